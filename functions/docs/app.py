"""GET /api/process/openapi.json and GET /api/process/docs: the API documented from its own routes
(``make openapi`` writes ``openapi.json`` beside this file from them)."""

from pathlib import Path

from waitroom.docs import add_docs
from waitroom.http import api_handler, create_resolver

app = create_resolver()
add_docs(app, (Path(__file__).parent / "openapi.json").read_text(encoding="utf-8"))
lambda_handler = api_handler(app)
