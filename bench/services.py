"""The servers the benchmark needs besides SQLite: PostgreSQL (a schema of its own, dropped after)
and Redis. Their addresses are the ones the test suite reads, with the same defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis

from devstack.postgres import fresh_schema

PG_URL = os.environ.get("WAITROOM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WAITROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def postgres_version(url: str = PG_URL) -> str | None:
    """The server's version, or None when it cannot be reached (its cells are then skipped)."""
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return None if row is None else str(row[0])


def redis_version(url: str = REDIS_URL) -> str | None:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3) as client:
            info = client.info("server")
    except redis.RedisError:
        return None
    return str(info.get("redis_version"))


@contextmanager
def postgres_schema(server_url: str = PG_URL) -> Iterator[str]:
    """A URL whose connections work in a new, empty schema, dropped afterwards."""
    with fresh_schema(server_url, prefix="waitroom_bench") as url:
        yield url
