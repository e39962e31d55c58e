"""A throwaway PostgreSQL schema: the tests and the benchmark each work in one of their own, so
that runs side by side on one server never see each other's rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote


@contextmanager
def fresh_schema(server_url: str, *, prefix: str) -> Iterator[str]:
    """A URL whose connections work in a new, empty schema, dropped afterwards with everything in it."""
    import psycopg  # noqa: PLC0415 -- only the runs that use PostgreSQL need the driver

    schema = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
