"""Write the API's OpenAPI document, generated from its routes, to ``functions/docs/openapi.json``.

Run with ``make openapi`` after changing a route; the docs function serves the file as it is.
"""

from __future__ import annotations

from pathlib import Path

from waitroom.docs import openapi_json
from waitroom.http import create_resolver
from waitroom.routes import ALL_ROUTES

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "functions" / "docs" / "openapi.json"

if __name__ == "__main__":
    DOCUMENT.write_text(openapi_json(create_resolver(*ALL_ROUTES)), encoding="utf-8")
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
