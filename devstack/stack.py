"""The whole of Waitroom on one machine, with nothing but Python (``make run``).

* the HTTP API on 127.0.0.1:``PORT``, routed from ``template.yaml``, each function in local
  execution environments (processes) that serve one invocation at a time;
* the worker function invoked back to back, as its schedule does in AWS, and the dispatcher
  starting more worker invocations when Camunda's backlog grows (through a local Lambda API);
* SQLite as the store (``DATABASE_URL`` chooses another);
* the development engine as Camunda (``CAMUNDA_URL`` chooses a real one; with ``ENGINE=camunda8``
  the functions call its Camunda 8 API, or ``CAMUNDA8_URL``'s, and the dispatcher is not scheduled);
* the example process of ``examples/onboard-user``: its BPMN deployed, its handler module served by
  the worker (``WORKER_HANDLER_MODULES``), and a stand-in for the onboarding service its step calls
  (``ONBOARDING_API_URL`` chooses a real one).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.durable import DurableRunner
from devstack.functions import WARM_TIMEOUT_S, FunctionPool
from devstack.gateway import FUNCTION_URL_PREFIX, MAX_CONNECTIONS, Gateway
from devstack.identity import ADMIN_SCOPE, LocalIdentity
from devstack.lambda_api import LambdaApi
from devstack.template import ROOT, Application, Function, load
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.deployment import deploy_bpmn as deploy_bpmn_camunda8
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.settings import Settings, load_settings
from waitroom_dev_engine.server import EngineServer

logger = logging.getLogger("devstack")
# SpiffWorkflow logs every task state change at INFO; the engine's own log says what matters.
logging.getLogger("spiff").setLevel(logging.WARNING)

#: What the functions see locally, unless the environment says otherwise.
LOCAL_DEFAULTS = {
    "ADMIN_SCOPE": ADMIN_SCOPE,
    # The example process the stack serves; the product allows none until told.
    "ALLOWED_PROCESS_KEYS": "onboard-user",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_DEFAULT_REGION": "us-east-1",
}

#: The example process that ``make run`` serves: its folder (on ``sys.path``, so that the functions'
#: processes import its handler module as the worker is told to), its BPMN, its handler module.
EXAMPLE_DIR = ROOT / "examples" / "onboard-user"
EXAMPLE_BPMN_DIR = EXAMPLE_DIR / "bpmn"
#: The same process with Zeebe task definitions, which ``ENGINE=camunda8`` deploys through ``/v2``.
EXAMPLE_BPMN_CAMUNDA8_DIR = EXAMPLE_DIR / "bpmn-camunda8"
DEMO_HANDLER_MODULES = "onboard_user.handlers"
if str(EXAMPLE_DIR) not in sys.path:
    sys.path.append(str(EXAMPLE_DIR))

if TYPE_CHECKING:
    from onboard_user.onboarding_api import OnboardingApi
#: The worker function's logical id: the dispatcher invokes it by this name locally, qualified by the
#: alias as in AWS, where it invokes the alias ``live`` (template.yaml).
WORKER_FUNCTION = "WorkerFunction"
#: The function that runs as a durable function in the durable wait mode (template.yaml's DurableConfig).
DURABLE_FUNCTION = "StartFunction"
#: The dispatcher reads Camunda 7's backlog; on Camunda 8 its cold start refuses, so it is not scheduled.
DISPATCHER_FUNCTION = "DispatcherFunction"
#: What boto3 needs to call the local Lambda API (it signs every request; the local API reads no
#: signature), and the worker the dispatcher starts, which the template names with ``!Ref``.
LOCAL_LAMBDA_CLIENT = {
    "AWS_ACCESS_KEY_ID": "local-stack",
    "AWS_SECRET_ACCESS_KEY": "local-stack-not-a-secret",
    "WORKER_FUNCTION_NAME": f"{WORKER_FUNCTION}:live",
}


class LocalSettings(BaseSettings):
    """Knobs of the local stack only (never read in AWS); the product's own are in waitroom.settings."""

    model_config = SettingsConfigDict(env_prefix="LOCAL_", frozen=True)

    data_dir: Path = ROOT / ".var"
    """Where the local store and the engine keep their SQLite files."""
    engine_port: int = Field(default=8081, ge=0, lt=65536)
    """Port of the development engine (0: any free port)."""
    concurrency: int = Field(default=2, gt=0, le=64)
    """Execution environments each HTTP function keeps warm."""
    max_concurrency: int = Field(default=64, gt=0, le=512)
    """Most environments of one function at once, as Lambda's concurrency limit (then 429); a function's
    ``ReservedConcurrentExecutions`` in the template bounds it lower, as in AWS."""
    parameter_overrides: dict[str, str] = Field(default_factory=dict)
    """Template parameters, as JSON (``LOCAL_PARAMETER_OVERRIDES='{"StartConcurrency": "4"}'``), as
    ``sam deploy --parameter-overrides`` gives them; the local stack reads the concurrency ones."""
    gateway_connections: int = Field(default=MAX_CONNECTIONS, gt=0, le=10_000)
    """Connections the local gateway serves at once (then 429), so that slow clients cannot hold every
    thread; API Gateway has no such bound, and a bench holding thousands of durable waits open raises it."""
    schedules: bool = True
    """Run the scheduled functions (worker, reconciler, retention)."""
    schedule_interval_s: float | None = Field(default=None, gt=0)
    """Run every schedule this often instead of its ``rate(...)`` (tests, demos)."""
    worker_concurrency: int = Field(default=12, gt=0, le=64)
    """Most environments of the worker function at once, as its reserved concurrency in the template
    (the dispatcher's invocations beyond it are throttled)."""
    onboarding_delay_ms: int = Field(default=0, ge=0, le=60_000)
    """How long the onboarding stand-in takes to answer (a real service is not instant)."""
    metrics_on_console: bool = False
    """Print the functions' metric lines (CloudWatch's embedded metric format) on the console with
    their logs, as CloudWatch Logs holds them; by default they go to ``metrics.jsonl`` in ``data_dir``."""

    @property
    def metrics_path(self) -> Path | None:
        """Where the functions' metric lines go; None: the console."""
        return None if self.metrics_on_console else self.data_dir / "metrics.jsonl"


class ScheduledFunction:
    """A function on its schedule: invoked every ``rate(...)``, or right after an invocation that
    took longer (the worker listens about as long as its rate, so it is always listening)."""

    def __init__(
        self,
        function: Function,
        environment: dict[str, str],
        *,
        interval_s: float | None = None,
        max_size: int = 1,
        metrics_path: Path | None = None,
    ) -> None:
        self.function = function
        self.interval_s = interval_s or rate_seconds(function.schedule or "")
        # Nobody waits on a schedule's answer: its cold start may take as long as the stack's own. The pool
        # serves the schedule's invocations and any other (the dispatcher's, for the worker).
        self.pool = FunctionPool(
            function,
            size=1,
            environment=environment,
            init_timeout_s=WARM_TIMEOUT_S,
            max_size=max_size,
            metrics_path=metrics_path,
        )
        self.event = json.loads((ROOT / "events" / f"{function.code_dir.name}.json").read_text(encoding="utf-8"))
        self.invocations = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function.name}", daemon=True)

    def start(self) -> ScheduledFunction:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.is_set():
            began = time.monotonic()
            try:
                summary = self.pool.invoke(self.event)
                logger.debug("%s: %s", self.function.name, summary)
            except Exception:
                if self._stopped.is_set():
                    return
                logger.exception("%s failed", self.function.name)
            self.invocations += 1
            self._stopped.wait(max(0.0, self.interval_s - (time.monotonic() - began)))

    def stop(self) -> None:
        self._stopped.set()
        self.pool.close()
        self._thread.join()


def rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` → 300. (Cron expressions are not needed by the template, so not read.)"""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if match is None:
        raise ValueError(f"the local stack reads rate(...) schedules only, not {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


class LocalStack:
    def __init__(self, *, port: int | None = None, local: LocalSettings | None = None) -> None:
        self.local = local or LocalSettings()
        self.port = load_settings().port if port is None else port
        self.application: Application = load(parameter_overrides=self.local.parameter_overrides)
        self.engine: EngineServer | None = None
        self.onboarding: OnboardingApi | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.schedules: list[ScheduledFunction] = []
        self.gateway: Gateway | None = None
        self.lambda_api: LambdaApi | None = None
        self.durable: DurableRunner | None = None
        self.environment: dict[str, str] = {}
        self._started_in: dict[str, str] = {}
        self.identity = LocalIdentity.in_directory(self.local.data_dir)

    @property
    def url(self) -> str:
        if self.gateway is None:
            raise RuntimeError("the local stack is not running")
        return self.gateway.url

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # Every environment of the stack gets the process environment of the stack's start, however
        # late it is spawned: a spawned process inherits the environment of the moment, which the
        # caller (a test's patches) may have changed since.
        self._started_in = dict(os.environ)
        self.local.data_dir.mkdir(parents=True, exist_ok=True)
        values = dict(LOCAL_DEFAULTS)
        values["DATABASE_URL"] = (
            os.environ.get("DATABASE_URL") or f"sqlite:///{self.local.data_dir / 'waitroom.sqlite3'}"
        )
        camunda8 = os.environ.get("ENGINE") == "camunda8"
        url_setting = "CAMUNDA8_URL" if camunda8 else "CAMUNDA_URL"
        if os.environ.get(url_setting):
            values[url_setting] = os.environ[url_setting]
        else:
            self.engine = EngineServer(self.local.data_dir / "engine.sqlite3", port=self.local.engine_port)
            values["CAMUNDA_URL"] = self.engine.start()
            # The same engine serves Camunda 8's API beside Camunda 7's.
            values["CAMUNDA8_URL"] = self.engine.url_v2
        if os.environ.get("ONBOARDING_API_URL"):
            values["ONBOARDING_API_URL"] = os.environ["ONBOARDING_API_URL"]
        else:
            from onboard_user.onboarding_api import OnboardingApi  # noqa: PLC0415 -- on sys.path from EXAMPLE_DIR

            self.onboarding = OnboardingApi(delay_ms=self.local.onboarding_delay_ms).start()
            values["ONBOARDING_API_URL"] = self.onboarding.url
        # The demo's handlers are served unless the shell names the modules to serve.
        values["WORKER_HANDLER_MODULES"] = DEMO_HANDLER_MODULES
        # One key for every environment of this stack (each would otherwise make its own and refuse
        # the others' cursors); a new one at each start, which refuses the cursors of the last.
        values["CURSOR_KEY"] = secrets.token_urlsafe(32)
        self.lambda_api = LambdaApi(self.pool_of).serve()
        values["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_api.url
        values.update(LOCAL_LAMBDA_CLIENT)
        values["WAIT_MODE"] = self.wait_mode
        if self.wait_mode == "durable":
            self.durable = DurableRunner(
                lambda_endpoint=self.lambda_api.url,
                environment={**LOCAL_LAMBDA_CLIENT, "AWS_DEFAULT_REGION": LOCAL_DEFAULTS["AWS_DEFAULT_REGION"]},
                # As many invocations at once as the function's concurrency, Lambda's own bound.
                invocation_threads=self._concurrency_of(self.application.functions[DURABLE_FUNCTION]),
            ).start()
            self.lambda_api.durable = self.durable
        # The shell's own variables win over the local defaults, as they reach the functions too.
        self.environment = {name: value for name, value in values.items() if name not in os.environ}
        self.environment.update({name: os.environ[name] for name in values if name in os.environ})

        urls = {name.lower(): values[name] for name in ("CAMUNDA_URL", "CAMUNDA8_URL") if name in values}
        settings = load_settings(database_url=values["DATABASE_URL"], **urls)
        migrate(dialect_for(values["DATABASE_URL"], settings))
        _deploy_example(settings)

        routed = {route.function for route in self.application.routes}
        for name in sorted(routed):
            function = self.application.functions[name]
            limit = self._concurrency_of(function)
            self.pools[name] = FunctionPool(
                function,
                size=min(self.local.concurrency, limit),
                max_size=limit,
                environment=self._environment_of(function),
                metrics_path=self.local.metrics_path,
            )
        if self.local.schedules:
            self.schedules = [
                self._scheduled(f)
                for f in self.application.functions.values()
                if f.schedule and not (settings.engine == "camunda8" and f.name == DISPATCHER_FUNCTION)
            ]
        for pool in self.pools.values():
            pool.warm()
        self.gateway = Gateway(
            self.application,
            self.pools,
            identity=self.identity,
            host="127.0.0.1",
            port=self.port,
            max_connections=self.local.gateway_connections,
        )
        if self.durable is not None:
            self.gateway.durable = self.durable
            self.gateway.durable_functions = frozenset({DURABLE_FUNCTION})
        self.gateway.start()

    @property
    def wait_mode(self) -> str:
        """``WAIT_MODE`` of the shell at the stack's start, else the template parameter ``WaitMode``
        given locally, else classic."""
        started_in = self._started_in or os.environ
        return started_in.get("WAIT_MODE") or self.local.parameter_overrides.get("WaitMode") or "classic"

    def restart_schedules(self) -> None:
        """Kill the scheduled functions mid-invocation, as a crash or a timeout would, and start them anew."""
        functions = [schedule.function for schedule in self.schedules]
        for schedule in self.schedules:
            schedule.stop()
        self.schedules = [self._scheduled(function) for function in functions]

    def _scheduled(self, function: Function) -> ScheduledFunction:
        environment = self._environment_of(function)
        max_size = self.local.worker_concurrency if function.name == WORKER_FUNCTION else 1
        return ScheduledFunction(
            function,
            environment,
            interval_s=self.local.schedule_interval_s,
            max_size=max_size,
            metrics_path=self.local.metrics_path,
        ).start()

    def _concurrency_of(self, function: Function) -> int:
        """Most environments of ``function`` at once: its reserved concurrency, within the local bound."""
        return min(self.local.max_concurrency, function.reserved_concurrency or self.local.max_concurrency)

    def pool_of(self, name: str) -> FunctionPool | None:
        """The environments of the function named ``name`` (its logical id in the template)."""
        scheduled = {schedule.function.name: schedule.pool for schedule in self.schedules}
        return self.pools.get(name) or scheduled.get(name)

    def _environment_of(self, function: Function) -> dict[str, str]:
        """The template's literal environment values, then the process environment of the stack's
        start (the shell's variables win), then the local stack's (intrinsics are AWS-only)."""
        literal = {name: str(value) for name, value in function.environment.items() if not isinstance(value, dict)}
        return {**literal, **self._started_in, **self.environment}

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for schedule in self.schedules:
            schedule.stop()
        for pool in self.pools.values():
            pool.close()
        if self.lambda_api is not None:
            self.lambda_api.stop()
        if self.durable is not None:
            self.durable.stop()
        if self.onboarding is not None:
            self.onboarding.stop()
        if self.engine is not None:
            self.engine.stop()

    def describe(self) -> dict[str, Any]:
        url_setting = "CAMUNDA8_URL" if os.environ.get("ENGINE") == "camunda8" else "CAMUNDA_URL"
        return {
            "api": self.url,
            # The API the functions call: Camunda 8's with ENGINE=camunda8.
            "camunda": self.environment.get(url_setting) or os.environ.get(url_setting),
            "database": self.environment.get("DATABASE_URL") or os.environ.get("DATABASE_URL"),
            "routes": [route.route_key for route in self.application.routes],
            "function_urls": [f"{self.url}{FUNCTION_URL_PREFIX}{name}/" for name in self.application.function_urls],
            "metrics": None if self.local.metrics_path is None else str(self.local.metrics_path),
            "wait_mode": self.wait_mode,
        }


def _deploy_example(settings: Settings) -> None:
    """Deploy the example's BPMN to the engine the settings name, in that engine's dialect of BPMN."""
    if settings.engine == "camunda8":
        camunda = Camunda8Client.from_settings(settings)
        try:
            definitions = deploy_bpmn_camunda8(camunda, EXAMPLE_BPMN_CAMUNDA8_DIR)
        finally:
            camunda.close()
        logger.info("BPMN deployed to Camunda 8: %s", sorted(d["processDefinitionId"] for d in definitions))
    else:
        deployed = deploy_bpmn(CamundaClient.from_settings(settings), EXAMPLE_BPMN_DIR)
        logger.info(
            "BPMN deployed: %s", sorted((deployed.get("deployedProcessDefinitions") or {}).keys()) or "unchanged"
        )
