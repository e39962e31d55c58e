"""POST /api/process/cancel: delete the Camunda instance and end the process as CANCELLED."""

from waitroom.entrypoints.http.resolver import http_function
from waitroom.entrypoints.http.routes import cancel_routes

app, lambda_handler = http_function(cancel_routes)
