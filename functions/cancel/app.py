"""POST /api/process/cancel: delete the Camunda instance and end the process as CANCELLED."""

from waitroom.http import api_handler, create_resolver
from waitroom.routes import cancel_routes

app = create_resolver(cancel_routes)
lambda_handler = api_handler(app)
