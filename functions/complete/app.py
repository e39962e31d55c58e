"""POST /api/process/complete: the last step of a process reports its outcome (IAM-signed callers)."""

from waitroom.entrypoints.http.resolver import http_function
from waitroom.entrypoints.http.routes import complete_routes

app, lambda_handler = http_function(complete_routes)
