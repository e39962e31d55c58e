"""GET /api/process/status/{correlationId} and GET /api/process/status/all."""

from waitroom.composition.http import http_function

app, lambda_handler = http_function("status")
