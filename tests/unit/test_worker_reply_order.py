"""The worker's fast path sends a reply before it closes the application's iterable
(where targetd writes the call's log line): WSGI's order, and the client's wait."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

from targetd_core import fasthttp
from targetd_core.worker import ConnectionThreadWorker

HEAD = b"POST /targetrpc HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"


class Body:
    """An application's reply whose close() looks at what the client has received."""

    def __init__(self, peer: socket.socket) -> None:
        self.peer = peer
        self.seen_at_close: bytes | None = None

    def __iter__(self) -> Any:
        yield b"{}"

    def close(self) -> None:
        self.seen_at_close = self.peer.recv(65536, socket.MSG_DONTWAIT)


def test_the_reply_is_on_the_wire_before_close() -> None:
    server, client = socket.socketpair()
    body = Body(client)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [("Content-Type", "application/json")])
        return body

    worker = ConnectionThreadWorker.__new__(ConnectionThreadWorker)
    worker.nr, worker.max_requests, worker.alive = 0, 1000, True
    worker.cfg = SimpleNamespace(keepalive=5)
    worker.wsgi = app
    worker._is_tls = False
    head = fasthttp.parse_head(HEAD[:-4])
    assert head is not None
    keep = worker._fast_request(head, b"{}", server, ("127.0.0.1", 1), ("127.0.0.1", 18700))
    assert keep
    assert body.seen_at_close is not None and body.seen_at_close.startswith(b"HTTP/1.1 200")
    assert body.seen_at_close.endswith(b"\r\n\r\n{}")
    server.close()
    client.close()
