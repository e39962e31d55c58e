"""POST /api/process/complete: the last step of a process reports its outcome (IAM-signed callers)."""

from waitroom.http import api_handler, create_resolver
from waitroom.routes import complete_routes

app = create_resolver(complete_routes)
lambda_handler = api_handler(app)
