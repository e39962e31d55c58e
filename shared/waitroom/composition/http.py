"""The composition of the API functions: the service on its adapters, the routes of the function, the
resolver and the Lambda handler around them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from waitroom import bootstrap
from waitroom.entrypoints.http.docs import add_docs
from waitroom.entrypoints.http.resolver import ApiHandler, RouteFactory, api_handler, create_resolver
from waitroom.entrypoints.http.routes import cancel_routes, complete_routes, start_routes, status_routes
from waitroom.settings import Settings, get_settings

#: The routes each API function serves, by the function's name (its directory under ``functions/``).
API_ROUTES: dict[str, RouteFactory] = {
    "start": start_routes,
    "status": status_routes,
    "complete": complete_routes,
    "cancel": cancel_routes,
}


def http_function(
    name: str, application: bootstrap.Application | None = None
) -> tuple[APIGatewayHttpResolver, ApiHandler]:
    """The API function ``name`` at its cold start: the settings (a bad one fails here), the service on
    its adapters, the resolver with the function's routes, and the Lambda handler around it. A test
    passes the ``application`` it built on the settings and adapters it chose."""
    application = application or bootstrap.application(get_settings())
    settings = application.settings
    app = create_resolver(settings, API_ROUTES[name](application.service, settings))
    return app, api_handler(app, settings)


def start_function(
    application: bootstrap.Application | None = None,
) -> tuple[APIGatewayHttpResolver, Callable[[Any, Any], Any]]:
    """The start function: the API function ``start`` in the classic wait mode; in the durable one,
    its route inside a Lambda durable function (:mod:`waitroom.entrypoints.http.durable`, imported
    only then: the durable execution SDK stays off the classic functions' cold start)."""
    application = application or bootstrap.application(get_settings())
    if application.settings.wait_mode != "durable":
        return http_function("start", application)
    from waitroom.entrypoints.http.durable import DurableWait, durable_handler  # noqa: PLC0415 -- durable mode only

    settings = application.settings
    waiting = DurableWait(application.service)
    app = create_resolver(settings, start_routes(application.service, settings, waiting))
    return app, durable_handler(app, settings, waiting)


def docs_function(openapi: str, settings: Settings | None = None) -> tuple[APIGatewayHttpResolver, ApiHandler]:
    """The docs function, serving the OpenAPI document ``openapi``: it builds no service."""
    settings = settings or get_settings()
    app = create_resolver(settings)
    add_docs(app, openapi, settings)
    return app, api_handler(app, settings)
