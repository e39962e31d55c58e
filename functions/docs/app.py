"""GET /api/process/openapi.json and GET /api/process/docs: the API documented from its own routes
(``make openapi`` writes ``openapi.json`` beside this file from them). It builds no service: it
serves a file."""

from pathlib import Path

from waitroom.entrypoints.http.docs import add_docs
from waitroom.entrypoints.http.resolver import api_handler, create_resolver
from waitroom.settings import get_settings

settings = get_settings()
app = create_resolver(settings)
add_docs(app, (Path(__file__).parent / "openapi.json").read_text(encoding="utf-8"), settings)
lambda_handler = api_handler(app, settings)
