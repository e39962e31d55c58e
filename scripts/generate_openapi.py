"""Write the API's OpenAPI document, generated from its routes, to ``functions/docs/openapi.json``.

Run with ``make openapi`` after changing a route; the docs function serves the file as it is.
"""

from __future__ import annotations

from pathlib import Path

from waitroom.bootstrap import application
from waitroom.composition.http import API_ROUTES
from waitroom.entrypoints.http.docs import as_configured, openapi_json
from waitroom.entrypoints.http.resolver import create_resolver
from waitroom.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "functions" / "docs" / "openapi.json"


def generated_document() -> str:
    """The document of every route, as a deployment on the settings' defaults serves it (a route is
    described, never called)."""
    settings = Settings()
    service = application(settings).service
    routes = (make_routes(service, settings) for make_routes in API_ROUTES.values())
    return as_configured(openapi_json(create_resolver(settings, *routes)), settings)


if __name__ == "__main__":
    DOCUMENT.write_text(generated_document(), encoding="utf-8")
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
