"""Types and helpers the store and wake tests share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waitroom.adapters.store import SqlStore
from waitroom.adapters.store.base import COLUMNS

#: New stores on one database, each with a connection of its own (as separate Lambdas).
StoreFactory = Callable[[], SqlStore]


def stored_row(store: SqlStore, correlation_id: str) -> dict[str, Any]:
    """A row as the database holds it (payload and error as JSON text), read on a connection of its
    own with the dialect's own statement."""
    connection = store.dialect.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(store.dialect.statements.get, {"correlation_id": correlation_id})
        row = cursor.fetchone()
    finally:
        connection.close()
    assert row is not None, f"no row {correlation_id}"
    return dict(zip(COLUMNS, row, strict=True))
