"""POST /api/process/start: start a Camunda process and answer with its result if it ends in time."""

from waitroom.http import api_handler, create_resolver
from waitroom.routes import start_routes

app = create_resolver(start_routes)
lambda_handler = api_handler(app)
