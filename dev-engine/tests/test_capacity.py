"""The engine answers a burst of concurrent requests: its listen backlog holds them until served."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from waitroom_dev_engine import EngineServer

BURST = 200


def test_the_listen_backlog_is_at_least_128(engine_server: EngineServer) -> None:
    # For a listening socket, ss reports the backlog in Send-Q; before, it was socketserver's 5.
    port = urlsplit(engine_server.url).port
    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()

    assert int(listing[2]) >= 128, listing


def test_a_burst_of_200_concurrent_requests_is_answered(engine_server: EngineServer) -> None:
    def version(_index: int) -> int:
        # A fresh connection each, as 200 separate clients would open.
        with requests.Session() as session:
            return session.get(f"{engine_server.url}/version", timeout=20).status_code

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        statuses = list(pool.map(version, range(BURST)))

    assert statuses == [200] * BURST
