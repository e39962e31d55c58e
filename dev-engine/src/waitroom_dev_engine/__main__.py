"""Command line: ``python -m waitroom_dev_engine --port N --db PATH [--bpmn-dir DIR]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from waitroom_dev_engine.server import EngineServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m waitroom_dev_engine",
        description="Camunda 7 REST-compatible development engine (SpiffWorkflow based).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one")
    parser.add_argument("--db", required=True, help="SQLite file holding the engine's state")
    parser.add_argument("--bpmn-dir", help="deploy every BPMN file in this directory at start (changed ones only)")
    parser.add_argument(
        "--username",
        default=os.environ.get("WAITROOM_DEV_ENGINE_USERNAME"),
        help="require HTTP basic auth with this user (env WAITROOM_DEV_ENGINE_USERNAME)",
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("WAITROOM_DEV_ENGINE_PASSWORD"),
        help="password for --username (env WAITROOM_DEV_ENGINE_PASSWORD)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    args = parser.parse_args(argv)
    if (args.username is None) != (args.password is None):
        parser.error("--username and --password go together")
    level = logging.getLevelName(args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO; keep that for --log-level DEBUG.
    logging.getLogger("spiff").setLevel(max(level, logging.WARNING) if level > logging.DEBUG else level)

    server = EngineServer(
        args.db,
        host=args.host,
        port=args.port,
        bpmn_dir=args.bpmn_dir,
        username=args.username,
        password=args.password,
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stopped.set())
    server.start()
    print(f"CAMUNDA_URL={server.url}", flush=True)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
