"""``waitroom-client``: run a process from the shell and print its result.

    WAITROOM_TOKEN=$(make -s token) waitroom-client run onboard-user \\
        --var userId=u1 --var email=u1@example.com --wait 60

The process (JSON) goes to stdout; a progress line and any error to stderr. Exit codes: 0 done,
1 the process ended in ERROR or was cancelled, 2 bad usage, 3 still running at the end of the
wait, 4 the request was refused or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

from waitroom_client.auth import SigV4
from waitroom_client.client import Waitroom
from waitroom_client.durations import to_seconds
from waitroom_client.errors import ApiError, ProcessOutcomeError, TransportError, WaitTimedOut
from waitroom_client.models import Process
from waitroom_client.protocol import FunctionUrls, Progress

EXIT_FAILED, EXIT_USAGE, EXIT_STILL_RUNNING, EXIT_REFUSED = 1, 2, 3, 4


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    try:
        return to_seconds(seconds, "--wait")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _json_assignment(text: str) -> tuple[str, Any]:
    name, value = _assignment(text)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: not JSON ({exc.msg})") from None


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="waitroom-client",
        description="Start Waitroom processes and read them.",
        epilog="The token comes from --token or WAITROOM_TOKEN; SigV4 credentials from the AWS environment.",
    )
    main.add_argument("--url", default=os.environ.get("WAITROOM_URL", "http://127.0.0.1:8080"), help="the API")
    main.add_argument("--token", default=os.environ.get("WAITROOM_TOKEN"), help="a bearer token (JWT)")
    main.add_argument("--start-function-url", help="the start function's Function URL (waits over 30 s)")
    main.add_argument("--status-function-url", help="the status function's Function URL")
    main.add_argument("--region", default=None, help="the AWS region for SigV4 (default: the AWS environment's)")
    commands = main.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start a process and wait for its result")
    run.add_argument("process_key")
    run.add_argument("--var", action="append", type=_assignment, default=[], metavar="NAME=TEXT")
    run.add_argument("--json-var", action="append", type=_json_assignment, default=[], metavar="NAME=JSON")
    run.add_argument("--correlation-id", help="default: a new UUID (fixed before the first attempt)")
    run.add_argument("--wait", type=_seconds, default=60.0, help="seconds to wait for the result (default 60)")

    status = commands.add_parser("status", help="read one process")
    status.add_argument("correlation_id")
    status.add_argument("--wait", type=_seconds, default=None, help="wait up to this many seconds for it to end")
    status.add_argument("--history", action="store_true", help="include the steps it ran")

    cancel = commands.add_parser("cancel", help="cancel a running process")
    cancel.add_argument("correlation_id")
    cancel.add_argument("--reason")

    listing = commands.add_parser("list", help="list processes, newest first, as JSON lines")
    listing.add_argument("--status")
    listing.add_argument("--process-key")
    listing.add_argument("--limit", type=int, default=None, help="stop after this many")
    return main


class ProgressLine:
    """One line on stderr, rewritten every half second while ``run`` waits (on a terminal), or a
    line per change of state (elsewhere)."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.interactive = stream.isatty()
        self._latest: Progress | None = None
        self._shown_at = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> ProgressLine:
        if self.interactive:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        if self.interactive:
            self._thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def update(self, progress: Progress) -> None:
        changed = self._latest is None or self._latest.status != progress.status
        self._latest, self._shown_at = progress, time.monotonic()
        if not self.interactive and changed:
            self.stream.write(self._text(progress, 0.0) + "\n")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stopped.wait(0.5):
            if self._latest is not None:
                self.stream.write("\r\x1b[K" + self._text(self._latest, time.monotonic() - self._shown_at))
                self.stream.flush()

    def _text(self, progress: Progress, since_s: float) -> str:
        state = progress.status.value if progress.status is not None else "starting"
        elapsed = progress.elapsed_s + since_s
        left = max(0.0, progress.remaining_s - since_s)
        return f"{self.label} {progress.correlation_id}: {state}, {elapsed:.0f} s, {left:.0f} s left"


def client_from(arguments: argparse.Namespace) -> Waitroom:
    function_urls = None
    sigv4 = None
    if arguments.start_function_url or arguments.status_function_url:
        if not (arguments.start_function_url and arguments.status_function_url):
            raise SystemExit("--start-function-url and --status-function-url go together")
        function_urls = FunctionUrls(start=arguments.start_function_url, status=arguments.status_function_url)
        sigv4 = SigV4.from_environment(arguments.region)
    return Waitroom(arguments.url, token=arguments.token, sigv4=sigv4, function_urls=function_urls)


def _print(process: Process, stream: TextIO) -> None:
    stream.write(json.dumps(process.raw, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    arguments = parser().parse_args(argv)
    try:
        with client_from(arguments) as client:
            if arguments.command == "run":
                variables = dict(arguments.var) | dict(arguments.json_var)
                with ProgressLine(arguments.process_key, err) as line:
                    process = client.run(
                        arguments.process_key,
                        variables,
                        correlation_id=arguments.correlation_id,
                        wait=arguments.wait,
                        on_progress=line.update,
                    )
                _print(process, out)
            elif arguments.command == "status":
                _print(client.status(arguments.correlation_id, wait=arguments.wait, history=arguments.history), out)
            elif arguments.command == "cancel":
                _print(client.cancel(arguments.correlation_id, arguments.reason), out)
            else:
                for count, process in enumerate(
                    client.list(status=arguments.status, process_key=arguments.process_key), start=1
                ):
                    _print(process, out)
                    if arguments.limit is not None and count >= arguments.limit:
                        break
    except WaitTimedOut as still:
        _print(still.process, out)
        err.write(f"waitroom-client: {still}\n")
        return EXIT_STILL_RUNNING
    except ProcessOutcomeError as ended:
        _print(ended.process, out)
        err.write(f"waitroom-client: {ended}\n")
        return EXIT_FAILED
    except (ApiError, TransportError) as failed:
        err.write(f"waitroom-client: {failed}\n")
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
