"""GET /api/process/openapi.json and GET /api/process/docs: the API documented from its own routes."""

from waitroom.docs import add_docs
from waitroom.http import api_handler, create_resolver
from waitroom.routes import ALL_ROUTES

app = create_resolver(*ALL_ROUTES)
add_docs(app)
lambda_handler = api_handler(app)
