"""The local stack's HTTP servers: threaded, and listening with a backlog for bursts."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

#: The standard library listens with a backlog of 5: in a burst (fifty clients connecting at once to
#: the gateway, a fleet of durable starts checkpointing through the local Lambda API to the runner)
#: the connections past it were reset. Linux caps it at ``net.core.somaxconn``.
LISTEN_BACKLOG = 1024


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
