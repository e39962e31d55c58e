"""A private PostgreSQL cluster for the fleet simulation: ``initdb`` into a temporary folder, a free
port on loopback, ``max_connections`` raised well past the shared server's 100, stopped and deleted
at the end. The shared server on 5432 is never touched, so the fleet cannot starve anyone's tests.

``pg_stat_statements`` is preloaded so that statements per second are the server's own count. Each
side of the simulation logs in as a role of its own (waiters, finishers), so connections and
statements are counted per side from ``pg_stat_activity`` and ``pg_stat_statements``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

#: The roles the fleet's sides log in as (trust authentication on loopback).
ROLES = ("waiter", "finisher")
DATABASE = "fleet"
#: initdb and postgres refuse to run as root: as root, the cluster runs as this account.
SERVICE_ACCOUNT = "postgres"


@dataclass(frozen=True)
class Cluster:
    port: int
    data_dir: Path

    def url(self, role: str = "postgres", database: str = DATABASE) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text(encoding="utf-8").split()[0])


def binaries() -> Path | None:
    """Where initdb and pg_ctl are (PATH first, then Debian's versioned directory), or None."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_service_account() -> tuple[int, int] | None:
    """The user and group the cluster's programs run as when this process is root (None: as itself)."""
    if os.geteuid() != 0:
        return None
    account = pwd.getpwnam(SERVICE_ACCOUNT)
    return account.pw_uid, account.pw_gid


@contextmanager
def private_cluster(*, max_connections: int) -> Iterator[Cluster]:
    """A running cluster with database ``fleet``, the fleet's roles and ``pg_stat_statements``."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("initdb is not installed: the PostgreSQL fleet needs the server's binaries")
    drop_root = _as_service_account()
    with tempfile.TemporaryDirectory(prefix="waitroom-fleet-pg-") as directory:
        root = Path(directory)
        if drop_root:
            os.chown(root, *drop_root)
        data_dir, port = root / "data", free_port()
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8"], drop_root)
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{root}'",
            "max_connections": str(max_connections),
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track_utility": "on",
            # The fleet's connections are not what a log is for here.
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with (data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        log = root / "server.log"
        _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-w", "-t", "60", "start"], drop_root)
        cluster = Cluster(port, data_dir)
        try:
            _prepare(cluster)
            yield cluster
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"], drop_root)


def _prepare(cluster: Cluster) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            admin = psycopg.connect(cluster.url(database="postgres"), autocommit=True, connect_timeout=3)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with admin:
        admin.execute(f"CREATE DATABASE {DATABASE}")
        for role in ROLES:
            admin.execute(f"CREATE ROLE {role} LOGIN")
    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION pg_stat_statements")
        for role in ROLES:
            connection.execute(f"GRANT ALL ON SCHEMA public TO {role}")


def _run(command: list[str], drop_root: tuple[int, int] | None) -> None:
    # The cluster's own programs, found above, with fixed arguments.
    finished = subprocess.run(  # noqa: S603
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
        user=drop_root[0] if drop_root else None,
        group=drop_root[1] if drop_root else None,
        extra_groups=[] if drop_root else None,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed: {(finished.stdout + finished.stderr).strip()[-2000:]}")


def grant_tables(cluster: Cluster) -> None:
    """After the migration (run as the owner): the fleet's roles may use every table."""
    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        for role in ROLES:
            connection.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            connection.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
