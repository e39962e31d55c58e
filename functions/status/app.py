"""GET /api/process/status/{correlationId} and GET /api/process/status/all."""

from waitroom.http import api_handler, create_resolver
from waitroom.routes import status_routes

app = create_resolver(status_routes)
lambda_handler = api_handler(app)
