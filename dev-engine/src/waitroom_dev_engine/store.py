"""SQLite persistence: one table per record type, each row the record as JSON plus its owner key.

The engine's data is small (a developer's or CI's processes), so queries load rows by id or owner
and filter in Python. Concurrency discipline: one connection, one lock, and every engine operation
runs inside ``transaction()``, which holds the lock for the whole read-modify-write and commits or
rolls back atomically. Long polls wait outside it.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from waitroom_dev_engine.records import (
    Deployment,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    ProcessDefinition,
    ProcessInstance,
    Record,
    Resource,
    UserTask,
)

_TABLES: dict[type[Any], str] = {
    Deployment: "deployment",
    Resource: "resource",
    ProcessDefinition: "process_definition",
    ProcessInstance: "process_instance",
    HistoricProcessInstance: "historic_process_instance",
    HistoricActivityInstance: "historic_activity_instance",
    HistoricVariableInstance: "historic_variable_instance",
    ExternalTask: "external_task",
    UserTask: "user_task",
    Incident: "incident",
    EventSubscription: "event_subscription",
}


class Store:
    def __init__(self, path: str | Path) -> None:
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._connection.execute("PRAGMA journal_mode=WAL")
        for table in _TABLES.values():
            # Table names come from the fixed mapping above, never from requests.
            self._connection.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, owner TEXT, body TEXT NOT NULL)"
            )
            self._connection.execute(f"CREATE INDEX IF NOT EXISTS {table}_owner ON {table} (owner)")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo what the block wrote if it raises, keep the rest."""
        self._connection.execute("SAVEPOINT engine_command")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK TO engine_command")
            self._connection.execute("RELEASE engine_command")
            raise
        self._connection.execute("RELEASE engine_command")

    def put(self, record: Record) -> None:
        table = _TABLES[type(record)]
        body = json.dumps(dataclasses.asdict(record))
        owner = getattr(record, record.owner_field)
        # An upsert keeps the row's rowid, so "in insertion order" stays stable across updates.
        self._connection.execute(
            f"INSERT INTO {table} (id, owner, body) VALUES (?, ?, ?) "  # noqa: S608
            "ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, body = excluded.body",
            (record.id, owner, body),
        )

    def get[R: Record](self, kind: type[R], record_id: str) -> R | None:
        rows = self._select(kind, "id = ?", record_id)
        return rows[0] if rows else None

    def by_owner[R: Record](self, kind: type[R], owner: str | None) -> list[R]:
        return self._select(kind, "owner IS ?", owner)

    def all[R: Record](self, kind: type[R]) -> list[R]:
        return self._select(kind, "1 = ?", 1)

    def delete(self, kind: type[Record], record_id: str) -> None:
        self._connection.execute(f"DELETE FROM {_TABLES[kind]} WHERE id = ?", (record_id,))  # noqa: S608

    def _select[R: Record](self, kind: type[R], condition: str, value: Any) -> list[R]:
        # Conditions are literals from this class; only the value comes from callers.
        cursor = self._connection.execute(
            f"SELECT body FROM {_TABLES[kind]} WHERE {condition} ORDER BY rowid",  # noqa: S608
            (value,),
        )
        return [kind(**json.loads(body)) for (body,) in cursor.fetchall()]
