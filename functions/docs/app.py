"""GET /api/process/openapi.json and GET /api/process/docs: the API documented from its own routes
(``make openapi`` writes ``openapi.json`` beside this file from them). It builds no service: it
serves a file."""

from pathlib import Path

from waitroom.composition.http import docs_function

app, lambda_handler = docs_function((Path(__file__).parent / "openapi.json").read_text(encoding="utf-8"))
