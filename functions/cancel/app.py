"""POST /api/process/cancel: delete the Camunda instance and end the process as CANCELLED."""

from waitroom.composition.http import http_function

app, lambda_handler = http_function("cancel")
