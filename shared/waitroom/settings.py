"""Every setting Waitroom reads, in one pydantic-settings model.

The environment variable of a field is its name in upper case (``sync_timeout_ms`` is
``SYNC_TIMEOUT_MS``). A bad value fails at cold start with :class:`ConfigurationError`, whose
message names the variable and the reason but never echoes the value (it may be a secret).
"""

from __future__ import annotations

import functools
import math
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BeforeValidator, Field, HttpUrl, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from waitroom.domain.errors import ConfigurationError
from waitroom.service.policies import ReconcilePolicy, RetentionPolicy, StartPolicy, WaitPolicy
from waitroom.service.waiting import PollSchedule

#: A Lambda Function URL is not cut at 30 s; its wait ends within the function's 15-minute
#: timeout, a minute before it (see ``LONG_WAIT_MAX_MS``).
LONG_WAIT_CEILING_MS = 14 * 60_000

#: The embedded default store: a SQLite file in the working directory, for ``make run`` and tests.
DEFAULT_DATABASE_URL = "sqlite:///.var/waitroom.sqlite3"
#: The shortest key the list route's cursors may be signed with (HMAC-SHA256; 32 characters of a
#: generated secret hold far more than 128 bits).
MIN_CURSOR_KEY_CHARS = 32

Milliseconds = Annotated[int, Field(gt=0)]
Seconds = Annotated[float, Field(gt=0)]


def _parse_schedule(value: object) -> object:
    return PollSchedule.parse(value) if isinstance(value, str) else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # --- waiting -------------------------------------------------------------------------------
    sync_timeout_ms: Milliseconds = Field(
        25_000, description="Longest a start request waits for the process before answering 202."
    )
    wait_safety_margin_ms: Annotated[int, Field(ge=0)] = Field(
        500, description="Time kept back from the Lambda's remaining time (and API Gateway's 30 s) to write the answer."
    )
    poll_schedule: Annotated[PollSchedule, NoDecode, BeforeValidator(_parse_schedule)] = Field(
        PollSchedule.parse("adaptive"),
        description="Pauses between reads of the row when no push channel wakes the waiter: `adaptive` (learnt "
        "per process key from its recent durations; `seed` until 20 have finished), `seed` (50, 100, 250, 500, "
        "1000 ms, then 1000 ms), or pauses in milliseconds separated by commas.",
    )
    wake_channel: Literal["auto", "poll", "postgres", "redis", "inprocess"] = Field(
        "auto",
        description="How a waiter learns of its process's finish at once: `redis`, `postgres` (LISTEN/NOTIFY), "
        "`inprocess`, `poll`; `auto` is Redis when `REDIS_URL` is set, else LISTEN/NOTIFY on a PostgreSQL "
        "store, else polling.",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="`redis://host:6379/0` (ElastiCache in AWS): wake waiters through Redis pub/sub, beside any store.",
    )
    push_fallback_poll_ms: Annotated[int, Field(gt=0)] = Field(
        5000,
        description="With a push channel, the row is still read this often in case a notification is lost: a "
        "safety net, so sparse (a waiter whose channel fails reads every second instead).",
    )
    adaptive_history: Annotated[int, Field(ge=0, le=10_000)] = Field(
        200, description="Finished processes of a key the `adaptive` schedule learns from (0: never learn)."
    )
    retry_after_s: Annotated[int, Field(ge=1)] = Field(
        1,
        description="The `Retry-After` of a 503, and of a 202 while its key has fewer than 5 finished processes "
        "(after that it comes from their durations).",
    )
    wait_mode: Literal["classic", "durable"] = Field(
        "classic",
        description="How a start waits: `classic` holds its invocation and reads the row (woken by the wake "
        "channel); `durable` runs the start function as a Lambda durable function that suspends on a callback "
        "the process's finish sends (template parameter `WaitMode`). Every function that finishes processes "
        "needs the same value.",
    )
    durable_checkpoint_poll_ms: Annotated[int, Field(ge=1, le=100)] = Field(
        5,
        description="In the durable mode, how often the durable execution SDK's checkpoint thread looks for its "
        "stop signal; every invocation waits up to this long at its end (the SDK's own 100 ms, billed at every "
        'invocation and added to every wake; docs/PERFORMANCE.md, "The durable wait").',
    )
    long_wait_max_ms: Annotated[int, Field(gt=0, le=LONG_WAIT_CEILING_MS)] = Field(
        LONG_WAIT_CEILING_MS,
        description="Longest `Prefer: wait` honoured on the Lambda Function URLs of start and status (template "
        "parameter `LongWaits`), where API Gateway's 30 s does not apply; at most 14 minutes, so that a "
        "15-minute function keeps a minute to answer.",
    )

    # --- database ------------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        None,
        description="`mssql://user:pass@host:1433/db`, `postgresql://user@host:5432/db`, `sqlite:///relative/path` "
        "or `sqlite:////absolute/path`. Unset outside Lambda: `sqlite:///.var/waitroom.sqlite3`; unset in Lambda: "
        "the cold start fails (see `AWS_LAMBDA_FUNCTION_NAME`).",
    )
    db_host: str | None = Field(
        None, description="The seeds' SQL Server variables, instead of `DATABASE_URL`: the server's host name."
    )
    db_port: Annotated[int, Field(gt=0, lt=65536)] = Field(1433, description="SQL Server's port, with `DB_HOST`.")
    db_name: str | None = Field(None, description="SQL Server's database, with `DB_HOST` (required with it).")
    db_user: str | None = Field(None, description="SQL Server's login, with `DB_HOST` (required with it).")
    db_password: SecretStr | None = Field(None, description="SQL Server's password, with `DB_HOST`.")
    db_secret_arn: str | None = Field(
        None,
        description="An RDS-style JSON secret (`host, port, username, password, dbname, engine`), read through "
        "Powertools parameters at each new connection, cached for 5 minutes and fetched again after a failed "
        "login (a rotated password).",
    )
    db_connect_timeout_s: Seconds = Field(
        5,
        description="Bound on a database login (pymssql's `login_timeout`, psycopg's `connect_timeout`); past it "
        "the API answers `503 STORE_UNAVAILABLE`.",
    )
    db_query_timeout_s: Seconds = Field(
        10,
        description="Bound on one statement (pymssql's `timeout`, PostgreSQL's `statement_timeout`, SQLite's busy "
        "timeout); past it the API answers `503 STORE_UNAVAILABLE`.",
    )
    db_require_encryption: bool = Field(
        False,
        description="SQL Server: refuse a connection that is not encrypted (FreeTDS `encryption=require`); the "
        "template sets it for `prod` (`DatabaseRequireEncryption`).",
    )
    aws_lambda_function_name: str | None = Field(
        None,
        description="Set by Lambda itself, never by you: there a database setting is required, and without one "
        "the cold start fails with `no database configured` (the SQLite default is for the local stack only).",
    )

    # --- Camunda -------------------------------------------------------------------------------
    engine: Literal["camunda7", "camunda8"] = Field(
        "camunda7",
        description="Which engine Waitroom fronts: `camunda7` (Camunda 7's REST API at `CAMUNDA_URL`, and its forks) "
        "or `camunda8` (Camunda 8.8's Orchestration Cluster REST API at `CAMUNDA8_URL`). The dispatcher runs on "
        "`camunda7` only (docs/ARCHITECTURE.md, the engine ports).",
    )
    camunda_url: HttpUrl = Field(HttpUrl("http://127.0.0.1:8080/engine-rest"), description="The Camunda 7 REST API.")
    camunda_user: str | None = Field(None, description="Basic auth user for Camunda; goes with `CAMUNDA_PASSWORD`.")
    camunda_password: SecretStr | None = Field(
        None, description="Basic auth password for Camunda; goes with `CAMUNDA_USER`."
    )
    camunda_token: SecretStr | None = Field(None, description="A bearer token for Camunda, instead of basic auth.")
    camunda_secret_arn: str | None = Field(
        None,
        description='A secret with Camunda\'s credentials, `{"username", "password"}` or `{"token"}`; wins over '
        "`CAMUNDA_USER`, `CAMUNDA_PASSWORD` and `CAMUNDA_TOKEN`, and is fetched again after a 401.",
    )
    camunda_connect_timeout_s: Seconds = Field(3, description="Bound on connecting to Camunda.")
    camunda_read_timeout_s: Seconds = Field(10, description="Bound on waiting for Camunda's answer.")
    camunda_string_max_chars: Annotated[int, Field(gt=0)] = Field(
        4000, description="Longest text Camunda stores as a `String` variable; longer text travels as `Json`."
    )

    camunda8_url: HttpUrl = Field(
        HttpUrl("http://127.0.0.1:8080/v2"),
        description="Camunda 8's Orchestration Cluster REST API, ending in `/v2` (with `ENGINE=camunda8`).",
    )
    camunda8_oauth_url: HttpUrl | None = Field(
        None,
        description="The OAuth token endpoint Waitroom gets Camunda 8 tokens from with its client credentials "
        "(SaaS: `https://login.cloud.camunda.io/oauth/token`; self-managed: Identity's Keycloak realm); none: "
        "no authentication.",
    )
    camunda8_client_id: str | None = Field(None, description="The OAuth client id; goes with `CAMUNDA8_CLIENT_SECRET`.")
    camunda8_client_secret: SecretStr | None = Field(
        None, description="The OAuth client secret; goes with `CAMUNDA8_CLIENT_ID`."
    )
    camunda8_secret_arn: str | None = Field(
        None,
        description='A secret with the OAuth client credentials, `{"clientId", "clientSecret"}`; wins over '
        "`CAMUNDA8_CLIENT_ID` and `CAMUNDA8_CLIENT_SECRET`, and is fetched again when the token endpoint refuses it.",
    )
    camunda8_audience: str | None = Field(
        None, description="The `audience` of the token request (SaaS: `zeebe.camunda.io`); none: not sent."
    )
    camunda8_scope: str | None = Field(
        None, description="The `scope` of the token request (some identity providers require one); none: not sent."
    )

    # --- worker --------------------------------------------------------------------------------
    worker_id: str | None = Field(
        None, description="The worker's name in Camunda's locks; by default one per execution environment."
    )
    worker_max_tasks: Annotated[int, Field(gt=0, le=100)] = Field(
        16,
        description="Tasks run at once by one worker invocation, each in a thread: they wait on HTTP, not on the CPU.",
    )
    worker_lock_duration_ms: Annotated[int, Field(ge=1000)] = Field(
        30_000, description="How long a fetched task stays locked to this worker; extended while its handler runs."
    )
    worker_poll_ms: Annotated[int, Field(gt=0)] = Field(
        20_000, description="Longest long poll (`asyncResponseTimeout`) of one fetchAndLock."
    )
    worker_task_budget_ms: Annotated[int, Field(ge=0)] = Field(
        15_000, description="Time kept back at the end of a worker invocation for the tasks in hand to finish."
    )
    worker_max_retries: Annotated[int, Field(ge=1)] = Field(
        3, description="Attempts of a failing task before Camunda raises an incident."
    )
    worker_retry_timeout_ms: Annotated[int, Field(ge=0)] = Field(
        1_000, description="Wait before the second attempt of a failing task; it doubles with each attempt after."
    )
    worker_retry_timeout_max_ms: Annotated[int, Field(ge=0)] = Field(
        60_000, description="The longest wait between attempts of a failing task."
    )
    worker_max_invocations: Annotated[int, Field(ge=1, le=1000)] = Field(
        10,
        description="Most worker invocations running tasks at once, the listening one included (1: no "
        "scale-out). Keep it below the worker function's reserved concurrency.",
    )
    worker_drain_poll_ms: Annotated[int, Field(gt=0)] = Field(
        1_000,
        description="How long a scale-out invocation waits for a task before it returns: the backlog is drained.",
    )
    worker_startup_ms: Annotated[int, Field(ge=0)] = Field(
        5_000,
        description="How long the dispatcher counts a worker invocation it started as starting (not yet fetching).",
    )
    worker_function_name: str | None = Field(
        None,
        description="The worker function the dispatcher invokes (its name or ARN); the template sets it, and "
        "without it the dispatcher fails at its cold start.",
    )
    dispatch_interval_ms: Annotated[int, Field(ge=100)] = Field(
        2_000, description="How often the dispatcher reads Camunda's backlog."
    )
    worker_handler_modules: str = Field(
        "",
        description="The modules whose handlers the worker serves, separated by commas: each exposes `TOPICS`, "
        "a sequence of `waitroom.entrypoints.worker.tasks.Topic` (docs/WORKER.md). The entry points of the group "
        "`waitroom.handlers` of the installed packages are served too. Loaded at cold start; a topic two of them "
        "claim fails it.",
    )
    response_topic: Annotated[str, Field(min_length=1, pattern=r"^\S+$")] = Field(
        "waitroom-respond",
        description="The topic of the built-in response step: an external service task of this topic ends the "
        "process's wait with the variables it receives (its input mappings, else all the instance's variables).",
    )
    engine_watch_ms: Annotated[int, Field(ge=0)] = Field(
        2_000,
        description="How often the listening worker asks Camunda for the incidents raised and the instances ended "
        "since it last looked, and ends the PENDING processes they stop: ERROR `INCIDENT`, or as the reconciler "
        "would (DONE with its variables for a plain end, `ENDED_WITHOUT_RESULT`, `TERMINATED`, CANCELLED). 0: only the "
        "reconciler does, once a process is "
        "`RECONCILE_MIN_AGE_S` old.",
    )
    engine_watch_lookback_s: Annotated[int, Field(gt=0)] = Field(
        300,
        description="How far back the worker's watch of Camunda looks, from the time of the worker: more than "
        "the gap between two listening invocations, and than the clocks' difference.",
    )

    # --- reconciler and retention ---------------------------------------------------------------
    max_process_age: timedelta = Field(
        timedelta(days=1),
        description="A process PENDING longer than this ends as ERROR `TIMED_OUT` (seconds, or ISO 8601 such "
        "as `PT6H`).",
    )
    stuck_after: timedelta = Field(
        timedelta(minutes=15),
        description="A process PENDING longer than this counts in the `StuckProcesses` metric (and its alarm).",
    )
    reconcile_min_age_s: Annotated[int, Field(ge=0)] = Field(
        120,
        description="The reconciler leaves younger PENDING rows alone: their start may still be under way. At "
        "least the longest a start can be under way (82 s with the default timeouts), else the cold start fails.",
    )
    reconcile_batch: Annotated[int, Field(gt=0, le=10_000)] = Field(
        200, description="PENDING rows one reconciler run examines, oldest first."
    )
    retention_days: Annotated[int, Field(gt=0)] = Field(
        30, description="Finished processes (and their steps) older than this are deleted."
    )
    retention_batch: Annotated[int, Field(gt=0, le=100_000)] = Field(
        1000,
        description="Processes one retention batch deletes (on SQL Server in statements of at most 1,000 "
        "processes and 4,000 steps); retention repeats batches until nothing is left to delete.",
    )

    # --- access ---------------------------------------------------------------------------------
    allowed_process_keys: str = Field(
        "",
        description="The process keys clients may start, separated by commas; `*` allows every key. Empty (the "
        "default): none, so a deployment names its own (`make run` names the example's, `onboard-user`).",
    )
    admin_scope: str = Field(
        "waitroom/admin",
        description="The token scope that lets a caller read, list and cancel every process, not only theirs.",
    )

    # --- HTTP ----------------------------------------------------------------------------------
    port: Annotated[int, Field(ge=0, lt=65536)] = Field(
        8080, description="Port of the local HTTP API (`make run`); 0 picks a free one."
    )
    max_body_bytes: Annotated[int, Field(gt=0)] = Field(
        256 * 1024, description="Largest request body; a larger one is `413 PAYLOAD_TOO_LARGE`."
    )
    list_max_limit: Annotated[int, Field(gt=0)] = Field(500, description="Largest `limit` of the list route.")
    cursor_key: SecretStr | None = Field(
        None,
        min_length=MIN_CURSOR_KEY_CHARS,
        description="The key (at least 32 characters) the list route signs its cursors with, for the caller and "
        "the filters they were given for; changing it refuses the cursors given out before. Unset: the text of "
        "`CURSOR_KEY_SECRET_ARN`; without either a random key of the process outside Lambda, and in Lambda the "
        "status function's cold start fails.",
    )
    cursor_key_secret_arn: str | None = Field(
        None,
        description="A secret whose text is the cursor key, read once at the status function's cold start; the "
        "template creates it.",
    )

    @model_validator(mode="after")
    def _one_database(self) -> Settings:
        chosen = [
            name
            for name, value in [
                ("DATABASE_URL", self.database_url),
                # Beside DB_SECRET_ARN, DB_HOST names the server of a secret that holds only credentials.
                ("DB_HOST", self.db_host and not self.db_secret_arn),
                ("DB_SECRET_ARN", self.db_secret_arn),
            ]
            if value
        ]
        if len(chosen) > 1:
            raise ValueError(f"set one of {', '.join(chosen)}, not several: which database is meant is unclear")
        if not chosen and self.aws_lambda_function_name:
            # The default SQLite file would sit in Lambda's read-only /var/task, or vanish with /tmp.
            raise ValueError(
                "no database configured: set DB_SECRET_ARN (or DATABASE_URL, dev only); "
                "the SQLite default is for the local stack, never Lambda"
            )
        if self.db_host and not self.db_secret_arn and not (self.db_name and self.db_user):
            raise ValueError("DB_HOST needs DB_NAME and DB_USER")
        if (self.camunda_user is None) != (self.camunda_password is None):
            raise ValueError("CAMUNDA_USER and CAMUNDA_PASSWORD go together")
        if (self.camunda8_client_id is None) != (self.camunda8_client_secret is None):
            raise ValueError("CAMUNDA8_CLIENT_ID and CAMUNDA8_CLIENT_SECRET go together")
        if self.camunda8_oauth_url and not (self.camunda8_secret_arn or self.camunda8_client_id):
            raise ValueError("CAMUNDA8_OAUTH_URL needs CAMUNDA8_SECRET_ARN (or CAMUNDA8_CLIENT_ID and _SECRET)")
        return self

    @model_validator(mode="after")
    def _no_reconciling_a_start_under_way(self) -> Settings:
        # A row judged while its start is still on its way to Camunda would end START_FAILED while
        # Camunda creates its instance: the client would read a failure of a process that runs.
        floor_s = math.ceil(self.start_under_way_max_s())
        if self.reconcile_min_age_s < floor_s:
            raise ValueError(
                f"RECONCILE_MIN_AGE_S must be at least {floor_s} s, the longest a start can still be under "
                "way with these timeouts (2 * (2 * DB_QUERY_TIMEOUT_S + DB_CONNECT_TIMEOUT_S) + "
                "2 * (2 * CAMUNDA_CONNECT_TIMEOUT_S + CAMUNDA_READ_TIMEOUT_S)): the reconciler would "
                "otherwise end a start in flight as START_FAILED"
            )
        return self

    def start_under_way_max_s(self) -> float:
        """The longest a start can still be under way once its row is inserted, in seconds: until then
        its instance may yet be created, so the reconciler must not judge the row (RECONCILE_MIN_AGE_S).

        After the insert, ``ProcessService.start`` makes the two reads of ``SqlStore.save``, each on
        the kept connection and, if that one is lost, once more on a new one; then the start request
        to Camunda, whose connection ``CamundaClient`` tries twice and which it sends once more after
        a 401 (a rotated secret). The wait for the process (SYNC_TIMEOUT_MS) begins only once that
        request has ended, so it adds nothing.
        """
        statement_s = 2 * self.db_query_timeout_s + self.db_connect_timeout_s
        request_s = 2 * self.camunda_connect_timeout_s + self.camunda_read_timeout_s
        return 2 * statement_s + 2 * request_s

    # --- what the service obeys, as plain values ------------------------------------------------

    def handler_modules(self) -> list[str]:
        """The modules of ``WORKER_HANDLER_MODULES``, in order."""
        return [name.strip() for name in self.worker_handler_modules.split(",") if name.strip()]

    def start_policy(self) -> StartPolicy:
        return StartPolicy(frozenset(key.strip() for key in self.allowed_process_keys.split(",") if key.strip()))

    def wait_policy(self) -> WaitPolicy:
        return WaitPolicy(
            poll_schedule=self.poll_schedule,
            push_fallback_poll_ms=self.push_fallback_poll_ms,
            adaptive_history=self.adaptive_history,
        )

    def reconcile_policy(self) -> ReconcilePolicy:
        return ReconcilePolicy(
            min_age=timedelta(seconds=self.reconcile_min_age_s),
            batch=self.reconcile_batch,
            max_process_age=self.max_process_age,
            stuck_after=self.stuck_after,
        )

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(keep_for=timedelta(days=self.retention_days), batch=self.retention_batch)

    def resolved_database_url(self) -> str:
        """The store's URL from ``DATABASE_URL``, or the ``DB_*`` variables of docs/seeds/, or the default.

        ``DB_SECRET_ARN`` is resolved later, at connect time, because reading it costs a call.
        """
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.db_host:
            password = self.db_password.get_secret_value() if self.db_password else ""
            return (
                f"mssql://{quote(self.db_user or '', safe='')}:{quote(password, safe='')}"
                f"@{self.db_host}:{self.db_port}/{quote(self.db_name or '', safe='')}"
            )
        return DEFAULT_DATABASE_URL


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (``overrides`` win); on a bad value raise an error naming each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            variable = "_".join(str(part) for part in error["loc"]).upper() or "settings"
            problems.append(f"{variable}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:
        # pydantic-settings could not even decode a value; its message names the field, not the value.
        raise ConfigurationError(f"invalid configuration: {exc}") from None


@functools.cache
def get_settings() -> Settings:
    """The settings of this execution environment, read once (at cold start)."""
    return load_settings()
