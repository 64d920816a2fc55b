"""The worker's fast path on the wire: plain requests and unusual ones on one connection
(the fast path hands an unusual request to gunicorn's parser mid-connection)."""

from __future__ import annotations

import base64
import json
import socket
import time

from .daemon import Daemon

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "pool_list"}).encode()


def _request(daemon: Daemon, extra: str = "", body: bytes = BODY) -> bytes:
    creds = base64.b64encode(f"admin:{daemon.password}".encode()).decode()
    return (
        f"POST /targetrpc HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {creds}\r\n"
        f"Content-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _connect(daemon: Daemon) -> socket.socket:
    host, port = daemon.url.split("//")[1].split("/")[0].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _read_replies(s: socket.socket, count: int) -> list[tuple[str, bytes]]:
    """``count`` replies (head, body) from a keep-alive connection."""
    data = b""
    replies: list[tuple[str, bytes]] = []
    while len(replies) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode()
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if len(data) >= end + 4 + length:
                replies.append((head, data[end + 4 : end + 4 + length]))
                data = data[end + 4 + length :]
                continue
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {len(replies)} replies"
        data += chunk
    return replies


def test_plain_and_unusual_requests_share_a_connection(daemon: Daemon) -> None:
    # plain (fast path), unusual (an unknown header: gunicorn's parser from here), plain,
    # pipelined and trickled in 7-byte pieces so that heads span reads
    data = _request(daemon) + _request(daemon, "X-Unusual: 1\r\n") + _request(daemon)
    with _connect(daemon) as s:
        for i in range(0, len(data), 7):
            s.sendall(data[i : i + 7])
            time.sleep(0.0005)
        replies = _read_replies(s, 3)
        s.sendall(_request(daemon))  # and the connection still serves
        replies += _read_replies(s, 1)
    for head, body in replies:
        assert head.startswith("HTTP/1.1 200 OK\r\n")
        assert "\r\nContent-Type: application/json\r\n" in head + "\r\n"
        assert "\r\nConnection: keep-alive" in head
        reply = json.loads(body)
        assert set(reply) == {"jsonrpc", "result", "id"} and reply["id"] == 1


def test_fast_path_replies_frame_like_gunicorn(daemon: Daemon) -> None:
    notification = json.dumps({"jsonrpc": "2.0", "method": "pool_list"}).encode()
    with _connect(daemon) as s:
        s.sendall(_request(daemon, body=notification) + _request(daemon, "Connection: close\r\n"))
        (head204, body204), (head200, _) = _read_replies(s, 2)
        assert s.recv(65536) == b""  # closed after the reply that asked for it
    lines = head204.split("\r\n")
    assert lines[0] == "HTTP/1.1 204 No Content"
    assert {ln.split(":")[0] for ln in lines[1:]} == {"Server", "Date", "Connection"}
    assert body204 == b""
    assert "\r\nConnection: close" in head200
