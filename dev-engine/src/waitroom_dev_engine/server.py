"""The HTTP front: a threaded stdlib server mounting the REST API under ``/engine-rest``.

Every request gets its own thread, so a long-polling fetchAndLock never holds up other requests.
Responses close the connection (HTTP/1.0), which keeps shutdown simple: once long polls are woken,
every request thread finishes and ``stop()`` can join them all.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit

from waitroom_dev_engine.engine import Engine
from waitroom_dev_engine.parsing import BPMN_SUFFIXES
from waitroom_dev_engine.rest import ENGINE_NAME, HttpRequest, HttpResponse, RestApi
from waitroom_dev_engine.rest_v2 import RestApiV2

MOUNT = "/engine-rest"
# Camunda 8's Orchestration Cluster API (rest_v2.py), beside Camunda 7's.
MOUNT_V2 = "/v2"
# How often the timer thread looks for due timers: the delay before a due timer fires.
TIMER_POLL_SECONDS = 0.5
_LOG = logging.getLogger("waitroom_dev_engine")


class EngineServer:
    """A Camunda-7-REST-compatible engine on ``http://host:port/engine-rest``.

    ``port=0`` picks a free port; ``start()`` returns the base URL to use as ``CAMUNDA_URL``. With
    ``username`` and ``password`` set, requests need HTTP basic authentication, as with Camunda's
    authentication filter (which leaves ``/engine`` open).
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bpmn_dir: str | Path | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._db_path = str(db_path)
        self._address = (host, port)
        self._bpmn_dir = Path(bpmn_dir) if bpmn_dir is not None else None
        self._credentials = (username, password) if username is not None and password is not None else None
        self._engine: Engine | None = None
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._timers: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("The engine server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{MOUNT}"

    def start(self) -> str:
        engine = Engine(self._db_path)
        if self._bpmn_dir is not None:
            deploy_directory(engine, self._bpmn_dir)
        self._engine = engine
        self._httpd = _HttpServer(self._address, RestApi(engine), RestApiV2(engine), self._credentials)
        self._thread = threading.Thread(target=self._serve, name="waitroom-dev-engine", daemon=True)
        self._thread.start()
        self._stopping.clear()
        self._timers = threading.Thread(target=self._fire_timers, name="waitroom-dev-engine-timers", daemon=True)
        self._timers.start()
        _LOG.info("Camunda-compatible development engine listening on %s", self.url)
        return self.url

    @property
    def url_v2(self) -> str:
        """The Camunda 8 REST API's base URL (``.../v2``)."""
        return self.url.removesuffix(MOUNT) + MOUNT_V2

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("The engine server is not running")
        return self._engine

    def advance_clock(self, milliseconds: int) -> int:
        """Move the engine's clock forward and fire the timers now due (how many fired)."""
        return self.engine.advance_clock(milliseconds)

    def stop(self) -> None:
        if self._httpd is None or self._engine is None or self._thread is None:
            return
        self._stopping.set()
        if self._timers is not None:
            self._timers.join()
            self._timers = None
        self._httpd.shutdown()
        self._engine.interrupt_waits()
        self._httpd.server_close()
        self._thread.join()
        self._engine.close()
        self._httpd = self._engine = self._thread = None

    def _serve(self) -> None:
        if self._httpd is not None:
            # A short poll interval keeps stop() quick; the loop is idle otherwise.
            self._httpd.serve_forever(poll_interval=0.05)

    def _fire_timers(self) -> None:
        # Camunda's job executor: timers fall due as the clock moves, with no request to trigger them.
        while not self._stopping.wait(TIMER_POLL_SECONDS):
            if self._engine is not None:
                try:
                    self._engine.fire_due_timers()
                except Exception:
                    _LOG.exception("Firing due timers failed")

    def __enter__(self) -> EngineServer:
        self.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()


def deploy_directory(engine: Engine, directory: Path) -> None:
    """Deploy every BPMN file below ``directory``; unchanged files are not deployed again."""
    files = sorted(path for path in directory.rglob("*") if path.is_file() and path.name.endswith(BPMN_SUFFIXES))
    if not files:
        _LOG.warning("No BPMN files found in %s", directory)
        return
    resources = {path.relative_to(directory).as_posix(): path.read_bytes() for path in files}
    result = engine.deploy(
        name="waitroom-dev-engine",
        source="waitroom-dev-engine",
        resources=resources,
        duplicate_filtering=True,
        changed_only=True,
    )
    deployed = [definition.id for definition in result.definitions or []]
    _LOG.info("Deployed from %s: %s", directory, ", ".join(deployed) or "nothing changed")


class _HttpServer(ThreadingHTTPServer):
    # Request threads are joined on close (they all finish once long polls are woken).
    daemon_threads = False
    block_on_close = True
    # socketserver's default listen backlog of 5 makes a burst of connections (a worker pool, a load
    # test) wait for SYN retries, seconds each; 128 queued connections absorb it.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], api: RestApi, api_v2: RestApiV2, credentials: tuple[str, str] | None
    ) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.api_v2 = api_v2
        self.credentials = credentials


class _Handler(BaseHTTPRequestHandler):
    server_version = "waitroom-dev-engine"
    disable_nagle_algorithm = True  # headers and body go in two writes; see the gateway's handler
    # Bounds how long an idle client connection can hold up stop(), which joins request threads.
    timeout = 30

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        _LOG.debug("%s - %s", self.address_string(), format % args)

    def _handle(self) -> None:
        server = cast(_HttpServer, self.server)
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path.startswith(MOUNT_V2 + "/"):
            self._handle_v2(server, url.query, path[len(MOUNT_V2) :])
            return
        if path != MOUNT and not path.startswith(MOUNT + "/"):
            self._send(HttpResponse(404, {"type": "NotFoundException", "message": "HTTP 404 Not Found", "code": None}))
            return
        relative = path[len(MOUNT) :] or "/"
        if server.credentials is not None and not _is_public(relative) and not self._authenticated(server.credentials):
            self._send(HttpResponse(401, headers={"WWW-Authenticate": f'Basic realm="{ENGINE_NAME}"'}))
            return
        length = int(self.headers.get("Content-Length") or 0)
        request = HttpRequest(
            method=self.command,
            path=relative,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            base_url=f"http://{self.headers.get('Host') or self._server_host(server)}{MOUNT}",
        )
        try:
            response = server.api.handle(request)
        except Exception:
            _LOG.exception("Unexpected error handling %s %s", self.command, self.path)
            response = HttpResponse(500, {"type": "Exception", "message": "Internal engine error", "code": None})
        self._send(response)

    def _handle_v2(self, server: _HttpServer, query: str, relative: str) -> None:
        if server.credentials is not None and not self._authenticated(server.credentials):
            self._send(HttpResponse(401, headers={"WWW-Authenticate": f'Basic realm="{ENGINE_NAME}"'}))
            return
        length = int(self.headers.get("Content-Length") or 0)
        request = HttpRequest(
            method=self.command,
            path=relative,
            query=parse_qs(query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            base_url=f"http://{self.headers.get('Host') or self._server_host(server)}{MOUNT_V2}",
        )
        try:
            response = server.api_v2.handle(request)
        except Exception:
            _LOG.exception("Unexpected error handling %s %s", self.command, self.path)
            body = {"type": "about:blank", "title": "INTERNAL", "status": 500, "detail": "Internal engine error"}
            response = HttpResponse(500, body, {"Content-Type": "application/problem+json"})
        self._send(response)

    @staticmethod
    def _server_host(server: _HttpServer) -> str:
        host, port = server.server_address[:2]
        return f"{host!s}:{port}"

    def _authenticated(self, credentials: tuple[str, str]) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected_user, expected_password = credentials
        user_matches = hmac.compare_digest(username.encode(), expected_user.encode())
        password_matches = hmac.compare_digest(password.encode(), expected_password.encode())
        return user_matches and password_matches

    def _send(self, response: HttpResponse) -> None:
        if isinstance(response.body, bytes):
            payload = response.body  # a document as it is (Camunda 8's process XML), its type in the headers
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if payload and "Content-Type" not in response.headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (a worker stopped mid long poll): there is no one to answer.
            _LOG.debug("client hung up before its answer was sent")


def _is_public(relative_path: str) -> bool:
    # Camunda's ProcessEngineAuthenticationFilter lets the engine list through unauthenticated.
    return relative_path.rstrip("/") == "/engine"
