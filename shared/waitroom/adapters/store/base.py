"""The process repository on SQL: one implementation of the service's
:class:`~waitroom.service.ports.ProcessRepository` for every database.

Each backend supplies a :class:`Dialect`: its URL schemes, how to connect, its statements written in
its own SQL, how it applies a migration, whether it can push wake-ups, and which driver errors mean
"the connection is gone". Everything else (the state machine, the JSON encoding of payloads and
errors, the connection kept for the life of a Lambda execution environment, reconnecting) lives here
once.
"""

from __future__ import annotations

import abc
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, Self

from waitroom.domain.errors import StoreUnavailable
from waitroom.domain.process import (
    ListQuery,
    NewProcess,
    Outcome,
    ProcessRecord,
    ProcessStatus,
    StepEvent,
    StepOutcome,
    dump_json,
    is_correlation_id,
    is_process_key,
    owner_problem,
)
from waitroom.observability import traced
from waitroom.settings import Settings

if TYPE_CHECKING:
    from waitroom.adapters.store.migrate import Migration

logger = logging.getLogger(__name__)

#: The columns every statement that returns rows selects, in this order.
COLUMNS = (
    "correlation_id",
    "status",
    "process_key",
    "payload_json",
    "error_json",
    "started_at",
    "updated_at",
    "completed_at",
    "camunda_instance_id",
    "request_hash",
    "owner",
)
COLUMN_LIST = ", ".join(COLUMNS)

#: Times a statement that lost a lock conflict runs again, each after a pause drawn from CONFLICT_PAUSE_S.
CONFLICT_RETRIES = 3
CONFLICT_PAUSE_S = (0.01, 0.1)


@dataclass(frozen=True)
class Statements:
    """A backend's SQL for every operation, with named parameters in the driver's own style."""

    save: str
    """Inserts a PENDING row, with the saving start's token, unless the id exists."""
    saved: str
    """The row as ``get`` reads it, and then the token of the start that inserted it."""
    get: str
    poll: str
    remove: str
    list_page: str
    """A page of rows, newest first, with ``{where}`` where the filters go and a ``limit`` parameter."""
    list_filters: dict[str, str]
    """The condition of each filter of :class:`ListQuery` (``after`` is the keyset condition)."""
    pending_started_before: str
    cancelled_without_instance: str
    """CANCELLED rows with no instance, started in ``[started_after, started_before)``, oldest first,
    with a ``limit`` parameter."""
    purge_finished: str
    """Deletes up to ``batch`` finished rows last changed before ``cutoff``, oldest first (with their steps,
    by cascade, but for those ``purge_finished_steps`` deleted first)."""
    recent_durations: str
    record_step: str
    """Inserts a step only if the process has a row, so that an unknown process records nothing, and
    no row of the process has the step's token, so that a retried insert adds nothing."""
    step_recorded: str
    """Whether a row of the process has the step's token."""
    steps: str
    attach_instance: str
    discard_unstarted: str
    replace_unstarted: str
    """Makes an ERROR row with no instance, last changed at ``ended_at``, PENDING for a new start
    (with the new start's token, as ``save`` writes it); changes nothing if the row changed since."""
    finish: str
    """Sets status, payload_json, error_json, and camunda_instance_id where it is NULL, where status
    is PENDING, and returns the row."""
    has_pending: str
    pending_count: str
    add_waiter: str
    """Records a durable waiter's callback id under a process's id."""
    take_waiters: str
    """Deletes every callback id recorded under a process's id and returns them: of racing takers
    each id goes to one."""
    drop_waiter: str
    """Deletes one recorded callback id (its waiter saw the process final without suspending)."""
    purge_finished_steps: str | None = None
    """Deletes up to ``steps`` step rows of the processes ``purge_finished`` would delete, before it
    runs (None: the cascade deletes them with their processes)."""


def as_utc(value: datetime) -> datetime:
    """The store's times are UTC: a time without a zone is taken to be UTC, not the machine's local time."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DatabaseUrl(Protocol):
    """Where a dialect gets its URL at each connect."""

    def __call__(self) -> str: ...

    def refresh(self) -> bool:
        """Make the next call fetch the URL anew; False when it cannot change (a fixed URL)."""
        ...


@dataclass(frozen=True)
class FixedUrl:
    url: str

    def __call__(self) -> str:
        return self.url

    def refresh(self) -> bool:
        return False


class Dialect(abc.ABC):
    """What differs between database servers: a backend is a module with one of these, a folder of
    ``waitroom/migrations/`` named for it, and its schemes in :data:`waitroom.adapters.store.BACKENDS`."""

    #: Where the URL comes from, read at each connect (None: the dialect needs no credentials).
    url_source: DatabaseUrl | None = None
    #: Whether the database itself can wake waiters (PostgreSQL's LISTEN/NOTIFY, see waitroom.adapters.wake).
    pushes_wake_ups = False
    #: The most rows one retention statement deletes (None: as many as the batch asks for); a larger
    #: batch is deleted by several statements.
    purge_statement_rows: int | None = None
    #: The most step rows one ``purge_finished_steps`` statement deletes.
    purge_step_rows = 4000

    name: str
    """Also the name of its folder in ``waitroom/migrations/``."""
    statements: Statements

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url_source: DatabaseUrl, settings: Settings) -> Self:
        """The dialect of the database ``url_source`` names, with the settings' timeouts."""

    @abc.abstractmethod
    def prepare_migrations(self, connection: Any) -> None:
        """Create ``waitroom_migrations`` unless it exists, in a transaction of its own (under the lock
        of :meth:`apply_migration`): the record table stays even when the first migration fails."""

    @abc.abstractmethod
    def apply_migration(self, connection: Any, migration: Migration, *, record_only: bool = False) -> bool:
        """Apply ``migration`` unless it is recorded in ``waitroom_migrations``, in one transaction
        with its record and under a lock that serialises concurrent migrators. True when applied.
        ``record_only``: record it without running it (its schema is there already: a baseline)."""

    @abc.abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection in autocommit mode: every statement is its own transaction."""

    @abc.abstractmethod
    def connect_for_migrations(self, statement_timeout_s: float) -> Any:
        """A new connection as :meth:`connect` makes, whose statements may run ``statement_timeout_s``:
        an index built on a populated table takes longer than the store's own statements may."""

    @abc.abstractmethod
    def is_disconnect(self, error: BaseException) -> bool:
        """Whether a driver error means the connection is unusable and a new one may succeed."""

    @abc.abstractmethod
    def is_unavailable(self, error: BaseException) -> bool:
        """Whether a driver error means the database is out of reach for now (timeouts, shutdown)."""

    @abc.abstractmethod
    def is_duplicate_key(self, error: BaseException) -> bool: ...

    def is_conflict(self, error: BaseException) -> bool:
        """Whether a driver error means the statement lost a lock conflict (a deadlock victim, a lock
        timeout): the server rolled it back and the same connection may run it again."""
        return False

    @abc.abstractmethod
    def driver_error(self) -> type[BaseException] | tuple[type[BaseException], ...]:
        """The driver's base error class(es)."""

    def timestamp_param(self, value: datetime) -> Any:
        """A timestamp as this driver should receive it, for comparisons with stored ones (UTC)."""
        return as_utc(value)

    def to_datetime(self, value: Any) -> datetime:
        """Driver value → aware UTC datetime. The store writes UTC everywhere."""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"not a timestamp: {value!r}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlStore:
    """The process repository on any :class:`Dialect`.

    It keeps one connection, opened on first use and reused for the life of the execution
    environment; a connection that broke is replaced and the statement tried once more. That retry is
    safe because every statement is either a read or conditional on the row's state, ``save`` and
    ``replace_unstarted`` tell their own row from a stranger's by the token they wrote (a write that
    committed before the connection dropped finds its own row), and ``record_step`` skips a step
    whose token is already recorded (the first attempt committed, its answer was lost). A lock makes
    one store safe to share between threads.

    The same safety lets a statement that lost a lock conflict (:meth:`Dialect.is_conflict`) run
    again on the same connection, up to :data:`CONFLICT_RETRIES` times after a short random pause.

    A correlation id not of the domain's form (``is_correlation_id``) is no stored row's, and is
    answered without the database: SQL Server would compare it as its column's type, truncated or
    with its characters outside the code page turned into ``?``, and find another row.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._sql = dialect.statements
        self._connection: Any = None
        self._lock = threading.RLock()

    # --- connection ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def connect(self) -> None:
        """Open the connection now instead of at the first statement (after a SnapStart restore)."""
        with self._lock:
            self._open_connection()

    @contextmanager
    def held_connection(self) -> Iterator[Any]:
        """The kept connection, opened if need be, for this thread alone until the block ends: the
        PostgreSQL wake channel listens on it (``waitroom.adapters.wake``). Raises
        :class:`StoreUnavailable` when no connection can be opened."""
        with self._lock:
            yield self._open_connection()

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except self.dialect.driver_error():
                logger.debug("closing a broken connection failed", exc_info=True)

    def _open_connection(self) -> Any:
        if self._connection is None:
            try:
                self._connection = self.dialect.connect()
            except self.dialect.driver_error() as exc:
                # The password may have been rotated since it was cached: fetch it and try once more.
                source = self.dialect.url_source
                if source is None or not source.refresh():
                    raise StoreUnavailable(f"cannot connect to the {self.dialect.name} database") from exc
                try:
                    self._connection = self.dialect.connect()
                except self.dialect.driver_error() as again:
                    raise StoreUnavailable(f"cannot connect to the {self.dialect.name} database") from again
        return self._connection

    def _with_cursor[T](self, work: Callable[[Any], T]) -> T:
        """Run ``work`` on a cursor of the kept connection.

        A connection found broken is replaced and ``work`` run once more, so ``work`` must be safe to
        run twice. Errors that mean the database is out of reach become :class:`StoreUnavailable`.
        """
        with self._lock, traced(f"## {self.dialect.name}"):
            reconnects = 1
            conflicts = CONFLICT_RETRIES
            while True:
                cursor = self._open_connection().cursor()
                try:
                    return work(cursor)
                except self.dialect.driver_error() as exc:
                    if self.dialect.is_disconnect(exc):
                        self._drop_connection()
                        if reconnects > 0:
                            reconnects -= 1
                            logger.warning("database connection lost; reconnecting")
                            continue
                        raise StoreUnavailable(f"lost the connection to the {self.dialect.name} database") from exc
                    if self.dialect.is_conflict(exc):
                        # The server rolled the statement back; the connection is sound.
                        if conflicts > 0:
                            conflicts -= 1
                            logger.warning("a statement lost a lock conflict; running it again")
                            time.sleep(random.uniform(*CONFLICT_PAUSE_S))  # noqa: S311 -- spreads retries, no secret
                            continue
                        raise StoreUnavailable(
                            f"the {self.dialect.name} database kept rolling the statement back "
                            "(a deadlock victim or a lock timeout at each try)"
                        ) from exc
                    if self.dialect.is_unavailable(exc):
                        # A timed-out connection may be mid-answer: start the next call on a new one.
                        self._drop_connection()
                        raise StoreUnavailable(f"the {self.dialect.name} database did not answer in time") from exc
                    raise
                finally:
                    self._close_cursor(cursor)

    def _close_cursor(self, cursor: Any) -> None:
        try:
            cursor.close()
        except self.dialect.driver_error():
            logger.debug("closing a cursor of a broken connection failed", exc_info=True)

    def _run(self, sql: str, params: Mapping[str, Any]) -> int:
        if _no_row_has(params):
            return 0

        def run(cursor: Any) -> int:
            cursor.execute(sql, dict(params))
            return int(cursor.rowcount)

        return self._with_cursor(run)

    def _all_rows(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        if _no_row_has(params):
            return []

        def fetch(cursor: Any) -> list[Sequence[Any]]:
            cursor.execute(sql, dict(params))
            return list(cursor.fetchall())

        return self._with_cursor(fetch)

    def _rows(self, sql: str, params: Mapping[str, Any]) -> list[ProcessRecord]:
        return [self._record(row) for row in self._all_rows(sql, params)]

    def _one(self, sql: str, params: Mapping[str, Any]) -> ProcessRecord | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _first_row(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        if _no_row_has(params):
            return None

        def fetch(cursor: Any) -> Sequence[Any] | None:
            cursor.execute(sql, dict(params))
            row: Sequence[Any] | None = cursor.fetchone()
            return row

        return self._with_cursor(fetch)

    def _scalar(self, sql: str, params: Mapping[str, Any]) -> Any:
        row = self._first_row(sql, params)
        return None if row is None else row[0]

    def _record(self, row: Sequence[Any]) -> ProcessRecord:
        values = dict(zip(COLUMNS, row, strict=True))
        completed_at = values["completed_at"]
        return ProcessRecord(
            correlation_id=values["correlation_id"],
            status=ProcessStatus(values["status"]),
            process_key=values["process_key"],
            payload=_loaded(values["payload_json"]),
            error=_loaded(values["error_json"]),
            started_at=self.dialect.to_datetime(values["started_at"]),
            updated_at=self.dialect.to_datetime(values["updated_at"]),
            completed_at=None if completed_at is None else self.dialect.to_datetime(completed_at),
            camunda_instance_id=values["camunda_instance_id"],
            request_hash=values["request_hash"],
            owner=values["owner"],
        )

    # --- operations ----------------------------------------------------------------------------

    def save(self, new: NewProcess) -> tuple[ProcessRecord, bool]:
        # Whether this call made the row is read back from the row itself, not from the insert's row
        # count: an insert retried after a lost connection may have committed the first time, and
        # then finds its own row, which the token tells from another request's.
        token = uuid.uuid4().hex
        try:
            self._run(self._sql.save, _saving(new, token))
        except self.dialect.driver_error() as exc:
            # Two first inserts racing past the existence check: the primary key decides.
            if not self.dialect.is_duplicate_key(exc):
                raise
        record, created = self._saved(new, token)
        if record is None:
            raise StoreUnavailable(f"process {new.correlation_id} vanished right after it was saved")
        return record, created

    def replace_unstarted(self, new: NewProcess, ended: ProcessRecord) -> tuple[ProcessRecord, bool]:
        if not ended.never_started:
            # The statement checks what SQL can see cheaply (ERROR, no instance, unchanged); the code
            # the row ended with is in its error's JSON, and a finished row's error never changes, so
            # the ``ended`` that was read tells it.
            current = self.get(new.correlation_id)
            return (current, False) if current is not None else self.save(new)
        # A finished row's outcome never changes, so its last change tells the row that was judged
        # from any later one; the token tells a retried update its own row, as in save.
        token = uuid.uuid4().hex
        params = {**_saving(new, token), "ended_at": self.dialect.timestamp_param(ended.updated_at)}
        self._run(self._sql.replace_unstarted, params)
        record, created = self._saved(new, token)
        if record is None:
            # Deleted meanwhile (retention, an operator): the id is free.
            return self.save(new)
        return record, created

    def _saved(self, new: NewProcess, token: str) -> tuple[ProcessRecord | None, bool]:
        """The row of ``new``'s id, and whether the start that wrote ``token`` made it: one read, so
        that a start costs two statements before its wait, not three."""
        row = self._first_row(self._sql.saved, {"correlation_id": new.correlation_id})
        return (None, False) if row is None else (self._record(row[:-1]), row[-1] == token)

    def get(self, correlation_id: str) -> ProcessRecord | None:
        return self._one(self._sql.get, {"correlation_id": correlation_id})

    def poll(self, correlation_id: str) -> ProcessRecord | None:
        return self._one(self._sql.poll, {"correlation_id": correlation_id})

    def remove(self, correlation_id: str) -> bool:
        return self._run(self._sql.remove, {"correlation_id": correlation_id}) > 0

    def list_page(self, query: ListQuery) -> list[ProcessRecord]:
        if query.owner is not None and owner_problem(query.owner) is not None:
            return []  # no row has an owner that cannot be stored
        if query.process_key is not None and not is_process_key(query.process_key):
            return []  # nor a process key of another form
        sql, params = self.list_statement(query)
        return self._rows(sql, params)

    def list_statement(self, query: ListQuery) -> tuple[str, dict[str, Any]]:
        """The list query's SQL, composed of the dialect's fixed fragments, and its parameters."""
        params: dict[str, Any] = {"limit": query.limit}
        conditions = []
        if query.status is not None:
            conditions.append(self._sql.list_filters["status"])
            params["status"] = query.status.value
        if query.process_key is not None:
            conditions.append(self._sql.list_filters["process_key"])
            params["process_key"] = query.process_key
        if query.started_after is not None:
            conditions.append(self._sql.list_filters["started_after"])
            params["started_after"] = self.dialect.timestamp_param(query.started_after)
        if query.started_before is not None:
            conditions.append(self._sql.list_filters["started_before"])
            params["started_before"] = self.dialect.timestamp_param(query.started_before)
        if query.owner is not None:
            conditions.append(self._sql.list_filters["owner"])
            params["owner"] = query.owner
        if query.after is not None:
            conditions.append(self._sql.list_filters["after"])
            params["after_started_at"] = self.dialect.timestamp_param(query.after[0])
            params["after_id"] = query.after[1]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return self._sql.list_page.format(where=where), params

    def pending_started_before(self, cutoff: datetime, *, limit: int) -> list[ProcessRecord]:
        return self._rows(
            self._sql.pending_started_before, {"cutoff": self.dialect.timestamp_param(cutoff), "limit": limit}
        )

    def cancelled_without_instance(
        self, *, started_after: datetime, started_before: datetime, limit: int
    ) -> list[ProcessRecord]:
        return self._rows(
            self._sql.cancelled_without_instance,
            {
                "started_after": self.dialect.timestamp_param(started_after),
                "started_before": self.dialect.timestamp_param(started_before),
                "limit": limit,
            },
        )

    def purge_finished(self, *, updated_before: datetime, batch: int) -> int:
        """Up to ``batch`` rows, in statements of at most the dialect's ``purge_statement_rows`` each
        (each its own transaction, so that no statement holds locks enough to lock the table)."""
        cutoff = self.dialect.timestamp_param(updated_before)
        limit = self.dialect.purge_statement_rows or batch
        deleted = 0
        while deleted < batch:
            rows = min(limit, batch - deleted)
            if self._sql.purge_finished_steps is not None:
                steps = {"cutoff": cutoff, "batch": rows, "steps": self.dialect.purge_step_rows}
                while self._run(self._sql.purge_finished_steps, steps) == self.dialect.purge_step_rows:
                    pass
            count = self._run(self._sql.purge_finished, {"cutoff": cutoff, "batch": rows})
            deleted += count
            if count < rows:
                break
        return deleted

    def record_step(self, event: StepEvent) -> bool:
        params = {
            "correlation_id": event.correlation_id,
            "topic": event.topic,
            "activity_id": event.activity_id,
            "outcome": event.outcome.value,
            "duration_ms": event.duration_ms,
            "error_json": _dumped(event.error),
            "step_token": event.token,
        }
        if self._run(self._sql.record_step, params) == 1:
            return True
        # Nothing inserted: the process has no row, or an attempt whose answer was lost recorded the
        # step already (then it is recorded, once).
        if event.token is None:
            return False
        found = self._scalar(
            self._sql.step_recorded, {"correlation_id": event.correlation_id, "step_token": event.token}
        )
        return bool(found)

    def steps(self, correlation_id: str) -> list[StepEvent]:
        return [
            StepEvent(
                correlation_id=correlation_id,
                topic=topic,
                activity_id=activity_id,
                outcome=StepOutcome(outcome),
                duration_ms=int(duration_ms),
                error=_loaded(error_json),
                occurred_at=self.dialect.to_datetime(occurred_at),
                # CHAR(32) pads a shorter token with blanks.
                token=None if token is None else token.strip(),
            )
            for topic, activity_id, outcome, duration_ms, error_json, occurred_at, token in self._all_rows(
                self._sql.steps, {"correlation_id": correlation_id}
            )
        ]

    def attach_instance(self, correlation_id: str, instance_id: str) -> None:
        self._run(self._sql.attach_instance, {"correlation_id": correlation_id, "instance_id": instance_id})

    def discard_unstarted(self, correlation_id: str) -> bool:
        return self._run(self._sql.discard_unstarted, {"correlation_id": correlation_id}) > 0

    def finish(self, correlation_id: str, outcome: Outcome, *, instance_id: str | None = None) -> ProcessRecord | None:
        return self._one(
            self._sql.finish,
            {
                "correlation_id": correlation_id,
                "status": outcome.status.value,
                "payload_json": _dumped(outcome.payload),
                "error_json": _dumped(outcome.error),
                "instance_id": instance_id,
            },
        )

    def recent_durations_ms(self, process_key: str, *, limit: int) -> list[float]:
        rows = self._all_rows(self._sql.recent_durations, {"process_key": process_key, "limit": limit})
        return [float(row[0]) for row in rows if row[0] is not None]

    def add_waiter(self, correlation_id: str, callback_id: str) -> None:
        self._run(self._sql.add_waiter, {"correlation_id": correlation_id, "callback_id": callback_id})

    def take_waiters(self, correlation_id: str) -> list[str]:
        rows = self._all_rows(self._sql.take_waiters, {"correlation_id": correlation_id})
        return [str(row[0]) for row in rows]

    def drop_waiter(self, correlation_id: str, callback_id: str) -> None:
        self._run(self._sql.drop_waiter, {"correlation_id": correlation_id, "callback_id": callback_id})

    def has_pending(self, correlation_id: str) -> bool:
        return bool(self._scalar(self._sql.has_pending, {"correlation_id": correlation_id}))

    def pending_count(self) -> int:
        return int(self._scalar(self._sql.pending_count, {}) or 0)


def _no_row_has(params: Mapping[str, Any]) -> bool:
    """Whether the statement asks for a correlation id that no stored row can have."""
    correlation_id = params.get("correlation_id")
    return isinstance(correlation_id, str) and not is_correlation_id(correlation_id)


def _saving(new: NewProcess, token: str) -> dict[str, Any]:
    """The parameters that make a PENDING row of ``new``, written by the start holding ``token``."""
    return {
        "correlation_id": new.correlation_id,
        "process_key": new.process_key,
        "request_hash": new.request_hash,
        "owner": new.owner,
        "save_token": token,
    }


def _dumped(value: Any) -> str | None:
    """A payload or error as the store keeps it: JSON text, NULL for none."""
    return None if value is None else dump_json(value)


def _loaded(text: str | None) -> Any:
    return None if text is None else json.loads(text)
