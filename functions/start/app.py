"""POST /api/process/start: start a Camunda process and answer with its result if it ends in time."""

from waitroom.composition.http import http_function

app, lambda_handler = http_function("start")
