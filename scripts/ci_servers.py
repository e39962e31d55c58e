"""Wait for the CI job's service containers and prepare them (.github/workflows/ci.yml).

    python scripts/ci_servers.py mssql --database waitroom_test   # password from MSSQL_SA_PASSWORD
    python scripts/ci_servers.py camunda --url http://127.0.0.1:8080/engine-rest
    python scripts/ci_servers.py camunda8 --url http://127.0.0.1:8080/v2

A service container is "started" long before the server in it answers (SQL Server needs about
20 s, Camunda Run about 30 s): each command retries until the server answers or ``--within`` ends.
Camunda 8 answers its topology before its partition can take commands: it is ready once a partition
has a leader that is healthy (the topology's ``partitions``, Camunda's TopologyResponse).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import pymssql
import requests


def retry(what: str, attempt: Callable[[], None], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            attempt()
        except (pymssql.Error, requests.RequestException) as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not answer within {within_s:.0f} s: {type(exc).__name__}") from None
            time.sleep(2)
        else:
            print(f"{what} answers")
            return


def prepare_mssql(host: str, database: str, within_s: float) -> None:
    password = os.environ["MSSQL_SA_PASSWORD"]

    def create() -> None:
        connection = pymssql.connect(server=host, user="sa", password=password, autocommit=True, login_timeout=5)
        try:
            # The name is this script's argument, checked below to be a plain identifier.
            connection.cursor().execute(f"IF DB_ID(N'{database}') IS NULL CREATE DATABASE [{database}]")
        finally:
            connection.close()

    if not database.isidentifier():
        raise SystemExit(f"--database must be a plain identifier, not {database!r}")
    retry(f"SQL Server at {host}", create, within_s)


def wait_for_camunda(url: str, within_s: float) -> None:
    def engines() -> None:
        requests.get(f"{url.rstrip('/')}/engine", timeout=5).raise_for_status()

    retry(f"Camunda at {url}", engines, within_s)


class NotReady(requests.RequestException):
    """The server answers, but cannot serve yet."""


def wait_for_camunda8(url: str, within_s: float) -> None:
    def leader() -> None:
        answer = requests.get(f"{url.rstrip('/')}/topology", timeout=5)
        answer.raise_for_status()
        partitions = [partition for broker in answer.json().get("brokers") or [] for partition in broker["partitions"]]
        if not any(partition["role"] == "leader" and partition["health"] == "healthy" for partition in partitions):
            raise NotReady("no healthy leader partition yet")

    retry(f"Camunda 8 at {url}", leader, within_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=["mssql", "camunda", "camunda8"])
    parser.add_argument("--host", default="127.0.0.1", help="SQL Server's host")
    parser.add_argument("--database", default="waitroom_test", help="the database to create on SQL Server")
    parser.add_argument("--url", help="the engine's REST API (default http://127.0.0.1:8080/engine-rest, or /v2)")
    parser.add_argument("--within", type=float, default=180, help="seconds to wait at most")
    args = parser.parse_args(argv)
    if args.server == "mssql":
        prepare_mssql(args.host, args.database, args.within)
    elif args.server == "camunda8":
        wait_for_camunda8(args.url or "http://127.0.0.1:8080/v2", args.within)
    else:
        wait_for_camunda(args.url or "http://127.0.0.1:8080/engine-rest", args.within)
    return 0


if __name__ == "__main__":
    sys.exit(main())
