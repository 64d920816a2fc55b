"""The worker's fast path for plain requests: parse the request head and write the reply
without gunicorn's parser and Request/Response objects, which cost more CPU than a
listing call itself (docs/serving.md).

Only the requests every targetd client sends take this path: ``GET`` or ``POST`` over
HTTP/1.1, a plain path (no query, no escapes), a ``Content-Length`` (no chunked body),
no ``Expect``, and only the headers in :data:`KNOWN_HEADERS`, each at most once. For
anything else :func:`parse_head` says no and the worker hands the bytes it has read to
gunicorn's parser, which then serves the rest of that connection, so every unusual case
keeps gunicorn's behaviour (HTTP/1.0, HEAD, proxies' headers, limits and errors).
"""

from __future__ import annotations

import io
import re
import sys
import time
from email.utils import formatdate
from typing import Any, cast

import gunicorn

#: the largest request head (request line and headers) the fast path reads
MAX_HEAD = 8190
#: the largest body the fast path reads; a longer one is left to gunicorn (and refused
#: by the application without being read)
MAX_BODY = 128 * 1024

SERVER = getattr(gunicorn, "SERVER", "gunicorn")
SERVER_SOFTWARE = getattr(gunicorn, "SERVER_SOFTWARE", SERVER)

_REQUEST_LINE = re.compile(rb"(GET|POST) (/[A-Za-z0-9/._~-]*) HTTP/1\.1")
# one character class for the value (spaces are stripped after the match): patterns
# whose parts overlap would backtrack quadratically on a long line that fails at its end
_HEADER = re.compile(rb"([A-Za-z0-9-]+):([\t -~]*)")
_LENGTH = re.compile(rb"[0-9]{1,7}")

#: header (lower case) -> its WSGI environ key; None: read by the fast path itself
KNOWN_HEADERS: dict[bytes, str | None] = {
    b"host": "HTTP_HOST",
    b"content-length": None,
    b"content-type": "CONTENT_TYPE",
    b"authorization": "HTTP_AUTHORIZATION",
    b"accept": "HTTP_ACCEPT",
    b"accept-encoding": "HTTP_ACCEPT_ENCODING",
    b"user-agent": "HTTP_USER_AGENT",
    b"connection": None,
}


class Request:
    """A parsed plain request head."""

    __slots__ = ("method", "path", "headers", "length", "close")

    def __init__(
        self, method: str, path: str, headers: dict[str, str], length: int, close: bool
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers  # environ keys -> values
        self.length = length
        self.close = close


#: heads seen lately -> their parse (a client sends the same head call after call)
_cache: dict[bytes, Request | None] = {}
CACHE_SIZE = 64


def parse_head(head: bytes) -> Request | None:
    """The request of a head (the bytes before the blank line), or None if it is not a
    plain request (gunicorn's parser then takes it)."""
    try:
        return _cache[head]
    except KeyError:
        pass
    req = _parse_head(head)
    if len(_cache) >= CACHE_SIZE:
        _cache.clear()
    _cache[head] = req
    return req


def _parse_head(head: bytes) -> Request | None:
    lines = head.split(b"\r\n")
    m = _REQUEST_LINE.fullmatch(lines[0])
    if m is None or len(lines) > 101:
        return None
    headers: dict[str, str] = {}
    seen: set[bytes] = set()
    length = -1
    close = False
    for line in lines[1:]:
        h = _HEADER.fullmatch(line)
        if h is None:
            return None
        name = h.group(1).lower()
        if name not in KNOWN_HEADERS or name in seen:
            return None
        seen.add(name)
        value = h.group(2).strip(b" \t")
        key = KNOWN_HEADERS[name]
        if key is not None:
            headers[key] = value.decode("latin-1")
        elif name == b"content-length":
            if not _LENGTH.fullmatch(value):
                return None
            length = int(value)
        else:  # connection
            token = value.lower()
            if token == b"close":
                close = True
            elif token != b"keep-alive":
                return None
    if length < 0:
        if m.group(1) == b"POST":
            return None
        length = 0
    if length > MAX_BODY:
        return None
    return Request(m.group(1).decode(), m.group(2).decode(), headers, length, close)


class Reply:
    """``start_response`` for the application (with ``force_close``, which the
    application's 413 uses to close the connection after the reply)."""

    __slots__ = ("status", "headers", "must_close")

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.must_close = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        self.status = status
        self.headers = headers
        return self._refuse_write

    @staticmethod
    def _refuse_write(data: bytes) -> None:
        raise RuntimeError("the fast path does not support write()")

    def force_close(self) -> None:
        self.must_close = True


_date: list[Any] = ["", 0]


def http_date() -> str:
    """The Date header's value, formatted once per second."""
    now = int(time.time())
    if now != _date[1]:
        _date[0] = formatdate(now, usegmt=True)
        _date[1] = now
    return cast(str, _date[0])


def environ(
    req: Request, body: bytes, addr: tuple[Any, ...], server: Any, tls: bool
) -> dict[str, Any]:
    """The WSGI environ of a plain request (the keys gunicorn would set that matter)."""
    env = {
        "REQUEST_METHOD": req.method,
        "PATH_INFO": req.path,
        "RAW_URI": req.path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "REMOTE_ADDR": addr[0],
        "REMOTE_PORT": str(addr[1]),
        "CONTENT_LENGTH": str(req.length),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if tls else "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if isinstance(server, tuple) and len(server) >= 2:
        env["SERVER_NAME"] = str(server[0])
        env["SERVER_PORT"] = str(server[1])
    env.update(req.headers)
    return env


def render(reply: Reply, body: bytes, close: bool) -> bytes:
    """The whole HTTP/1.1 reply as gunicorn would write it (a ``Content-Length`` is
    added when the application gave none and the status allows a body)."""
    code = reply.status[:3]
    parts = [
        f"HTTP/1.1 {reply.status}\r\nServer: {SERVER}\r\nDate: {http_date()}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n"
    ]
    has_length = False
    for k, v in reply.headers:
        if "\r" in k or "\n" in k or "\r" in v or "\n" in v:
            raise ValueError(f"invalid response header {k!r}")
        if k.lower() == "content-length":
            has_length = True
        parts.append(f"{k}: {v}\r\n")
    if not has_length and code not in ("204", "304") and not code.startswith("1"):
        parts.append(f"Content-Length: {len(body)}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1") + body
