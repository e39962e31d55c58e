"""The whole of Waitroom on one machine, with nothing but Python (``make run``).

* the HTTP API on 127.0.0.1:``PORT``, routed from ``template.yaml``, each function in local
  execution environments (processes) that serve one invocation at a time;
* the worker function invoked back to back, as its schedule does in AWS;
* SQLite as the store (``DATABASE_URL`` chooses another);
* the development engine as Camunda, executing ``bpmn/`` (``CAMUNDA_URL`` chooses a real one);
* a stand-in for the onboarding service (``ONBOARDING_API_URL`` chooses a real one).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from multiprocessing import TimeoutError as PoolTimeout
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.engine.server import EngineServer
from devstack.functions import FunctionPool
from devstack.gateway import Gateway
from devstack.onboarding_api import OnboardingApi
from devstack.template import ROOT, Application, Function, load
from waitroom.camunda.client import CamundaClient
from waitroom.camunda.deployment import deploy_bpmn
from waitroom.settings import load_settings
from waitroom.store import dialect_for
from waitroom.store.migrate import migrate

logger = logging.getLogger("devstack")
# SpiffWorkflow logs every task state change at INFO; the engine's own log says what matters.
logging.getLogger("spiff").setLevel(logging.WARNING)

#: What the functions see locally, unless the environment says otherwise.
LOCAL_DEFAULTS = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalSettings(BaseSettings):
    """Knobs of the local stack only (never read in AWS); the product's own are in waitroom.settings."""

    model_config = SettingsConfigDict(env_prefix="LOCAL_", frozen=True)

    data_dir: Path = ROOT / ".var"
    """Where the local store and the engine keep their SQLite files."""
    engine_port: int = Field(default=8081, ge=0, lt=65536)
    """Port of the development engine (0: any free port)."""
    concurrency: int = Field(default=4, gt=0, le=64)
    """Execution environments per HTTP function: concurrent requests each can serve."""
    worker: bool = True
    """Run the worker function on its schedule."""


class ScheduledFunction:
    """A function its schedule keeps busy: invoked again as soon as an invocation returns."""

    def __init__(self, function: Function, environment: dict[str, str]) -> None:
        self.function = function
        self.pool = FunctionPool(function, size=1, environment=environment)
        self.event = json.loads((ROOT / "events" / "worker.json").read_text(encoding="utf-8"))
        self.invocations = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function.name}", daemon=True)

    def start(self) -> ScheduledFunction:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.is_set():
            pending = self.pool.submit(self.event)
            while not self._stopped.is_set():
                try:
                    summary = pending.get(timeout=0.5)
                except PoolTimeout:
                    continue
                except Exception:
                    logger.exception("%s failed", self.function.name)
                    self._stopped.wait(1)
                else:
                    logger.debug("%s: %s", self.function.name, summary)
                self.invocations += 1
                break

    def stop(self) -> None:
        self._stopped.set()
        self.pool.close()
        self._thread.join()


class LocalStack:
    def __init__(self, *, port: int | None = None, local: LocalSettings | None = None) -> None:
        self.local = local or LocalSettings()
        self.port = load_settings().port if port is None else port
        self.application: Application = load()
        self.engine: EngineServer | None = None
        self.onboarding: OnboardingApi | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.schedules: list[ScheduledFunction] = []
        self.gateway: Gateway | None = None
        self.environment: dict[str, str] = {}

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
        self.local.data_dir.mkdir(parents=True, exist_ok=True)
        values = dict(LOCAL_DEFAULTS)
        values["DATABASE_URL"] = (
            os.environ.get("DATABASE_URL") or f"sqlite:///{self.local.data_dir / 'waitroom.sqlite3'}"
        )
        if os.environ.get("CAMUNDA_URL"):
            values["CAMUNDA_URL"] = os.environ["CAMUNDA_URL"]
        else:
            self.engine = EngineServer(self.local.data_dir / "engine.sqlite3", port=self.local.engine_port)
            values["CAMUNDA_URL"] = self.engine.start()
        if os.environ.get("ONBOARDING_API_URL"):
            values["ONBOARDING_API_URL"] = os.environ["ONBOARDING_API_URL"]
        else:
            self.onboarding = OnboardingApi().start()
            values["ONBOARDING_API_URL"] = self.onboarding.url
        # The shell's own variables win over the local defaults, as they reach the functions too.
        self.environment = {name: value for name, value in values.items() if name not in os.environ}
        self.environment.update({name: os.environ[name] for name in values if name in os.environ})

        settings = load_settings(database_url=values["DATABASE_URL"], camunda_url=values["CAMUNDA_URL"])
        migrate(dialect_for(values["DATABASE_URL"], settings))
        deployed = deploy_bpmn(CamundaClient.from_settings(settings))
        logger.info(
            "BPMN deployed: %s", sorted((deployed.get("deployedProcessDefinitions") or {}).keys()) or "unchanged"
        )

        routed = {route.function for route in self.application.routes}
        for name in sorted(routed):
            function = self.application.functions[name]
            self.pools[name] = FunctionPool(
                function, size=self.local.concurrency, environment=self._environment_of(function)
            )
        if self.local.worker:
            for function in self.application.functions.values():
                if function.schedule:
                    self.schedules.append(ScheduledFunction(function, self._environment_of(function)).start())
        for pool in self.pools.values():
            pool.warm()
        self.gateway = Gateway(self.application, self.pools, host="127.0.0.1", port=self.port).start()

    def restart_schedules(self) -> None:
        """Kill the scheduled functions mid-invocation, as a crash or a timeout would, and start them anew."""
        functions = [schedule.function for schedule in self.schedules]
        for schedule in self.schedules:
            schedule.stop()
        self.schedules = [ScheduledFunction(f, self._environment_of(f)).start() for f in functions]

    def _environment_of(self, function: Function) -> dict[str, str]:
        """The template's literal environment values, then the local stack's (intrinsics are AWS-only)."""
        literal = {name: str(value) for name, value in function.environment.items() if not isinstance(value, dict)}
        return {**{k: v for k, v in literal.items() if k not in os.environ}, **self.environment}

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for schedule in self.schedules:
            schedule.stop()
        for pool in self.pools.values():
            pool.close()
        if self.onboarding is not None:
            self.onboarding.stop()
        if self.engine is not None:
            self.engine.stop()

    def describe(self) -> dict[str, Any]:
        return {
            "api": self.url,
            "camunda": self.environment.get("CAMUNDA_URL") or os.environ.get("CAMUNDA_URL"),
            "database": self.environment.get("DATABASE_URL") or os.environ.get("DATABASE_URL"),
            "routes": [route.route_key for route in self.application.routes],
        }
