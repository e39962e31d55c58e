"""GET /api/process/status/{correlationId} and GET /api/process/status/all."""

from waitroom.entrypoints.http.resolver import http_function
from waitroom.entrypoints.http.routes import status_routes

app, lambda_handler = http_function(status_routes)
