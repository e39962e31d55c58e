"""POST /api/process/complete: the last step of a process reports its outcome (IAM-signed callers)."""

from waitroom.composition.http import http_function

app, lambda_handler = http_function("complete")
