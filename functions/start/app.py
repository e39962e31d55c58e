"""POST /api/process/start: start a Camunda process and answer with its result if it ends in time."""

from waitroom.entrypoints.http.resolver import http_function
from waitroom.entrypoints.http.routes import start_routes

app, lambda_handler = http_function(start_routes)
