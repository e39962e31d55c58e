"""A TCP proxy that can stand still, as a server stopped with SIGSTOP does: while paused it accepts
connections (the kernel would) but passes nothing on in either direction; on resume it passes on
everything it held, including a request whose client has given up waiting, which the server then
carries out as a stopped server does once it runs again."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class PausingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._running = threading.Event()
        self._running.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._accept, name="pausing-proxy", daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def __enter__(self) -> PausingProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._running.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with client, upstream:
            back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
            back.start()
            self._pipe(client, upstream)
            back.join(timeout=60)

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                self._running.wait()
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            self._running.wait()
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)
