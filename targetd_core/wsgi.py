"""The WSGI application: the HTTP layer of the contract in front of the dispatcher."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import structlog

from .auth import Authenticator, Verdict
from .jsonwire import dumps
from .rpc import CallContext, Dispatcher

if TYPE_CHECKING:
    from .metrics import Metrics

log = structlog.get_logger("targetd.http")

MAX_BODY = 128 * 1024
RPC_PATH = "/targetrpc"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
JSON = "application/json"

StartResponse = Callable[..., Any]


def _plain(
    start_response: StartResponse,
    status: str,
    text: str,
    extra: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(status, headers + (extra or []))
    return [body]


def _busy(start_response: StartResponse) -> Iterable[bytes]:
    return _plain(
        start_response,
        "503 Service Unavailable",
        "a failed login from this address is being delayed; retry later",
        [("Retry-After", "1")],
    )


def _close_connection(start_response: StartResponse) -> None:
    """Have the server close the connection after this response (and say so in a
    ``Connection: close`` header). WSGI gives an application no way to ask; gunicorn's
    ``start_response`` is a method of its response object, which has ``force_close``."""
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()


def _too_large(start_response: StartResponse) -> Iterable[bytes]:
    # The unread rest of the body is still on the connection: it cannot carry another
    # request, so it is closed rather than drained.
    _close_connection(start_response)
    return _plain(start_response, "413 Content Too Large", f"request body over {MAX_BODY} bytes")


class _LinesAfterReply:
    """A JSON-RPC reply body whose ``close()`` writes the calls' log lines.

    A WSGI server calls ``close()`` once the reply has been sent, so the client does not
    wait for the log line (about a third of the daemon's own work on a listing call);
    a line is still written before the connection's next request is read.
    """

    __slots__ = ("_body", "_dispatcher", "_ctx")

    def __init__(self, body: bytes, dispatcher: Dispatcher, ctx: CallContext) -> None:
        self._body = body
        self._dispatcher = dispatcher
        self._ctx = ctx

    def __iter__(self) -> Iterator[bytes]:
        yield self._body

    def close(self) -> None:
        self._dispatcher.write_lines(self._ctx)


class TargetdApp:
    def __init__(
        self, dispatcher: Dispatcher, auth: Authenticator, metrics: Metrics | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.auth = auth
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        client = environ.get("REMOTE_ADDR", "")
        path = environ.get("PATH_INFO", "")
        verb = environ.get("REQUEST_METHOD", "")
        if path == HEALTH_PATH and verb in ("GET", "HEAD"):
            return _plain(start_response, "200 OK", "ok")  # liveness only, no auth
        verdict, user = self.auth.check(environ.get("HTTP_AUTHORIZATION"))
        if verdict is Verdict.MISSING:
            return _plain(
                start_response,
                "401 Unauthorized",
                "authentication required",
                [("WWW-Authenticate", 'Basic realm="targetd"')],
            )
        if verdict is Verdict.MALFORMED:
            return _plain(start_response, "400 Bad Request", "malformed Authorization header")
        if self.auth.being_delayed(client):
            return _busy(start_response)
        if verdict is Verdict.WRONG:
            with self.auth.tarpit(client) as delayed:
                if not delayed:
                    return _busy(start_response)
            log.warning("login failed", client=client, user=user)
            if self.metrics is not None:
                self.metrics.login_failed()
            return _plain(
                start_response,
                "401 Unauthorized",
                "wrong user or password",
                [("WWW-Authenticate", 'Basic realm="targetd"')],
            )
        if path == METRICS_PATH and self.metrics is not None:
            if verb not in ("GET", "HEAD"):
                return _plain(
                    start_response, "405 Method Not Allowed", "use GET", [("Allow", "GET")]
                )
            data, ctype = self.metrics.render()
            start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(data)))])
            return [data]
        if path != RPC_PATH:
            return _plain(
                start_response, "404 Not Found", "not found; the endpoint is POST " + RPC_PATH
            )
        if verb != "POST":
            return _plain(start_response, "405 Method Not Allowed", "use POST", [("Allow", "POST")])
        body = self._read_body(environ)
        if body is None:
            return _too_large(start_response)
        ctx = CallContext(client=client, user=user, lines=[])
        try:
            reply = self.dispatcher.handle(body, ctx)
        except Exception:  # never an HTML 500: every body gets a JSON-RPC reply
            ref = uuid.uuid4().hex[:12]
            log.exception("request failed", client=client, ref=ref)
            reply = {
                "jsonrpc": "2.0",
                "error": {
                    "code": -1,
                    "message": f"internal error; the daemon's log has the details (reference {ref})",
                },
                "id": None,
            }
        if reply is None:
            start_response("204 No Content", [])
            return _LinesAfterReply(b"", self.dispatcher, ctx)
        data = dumps(reply)
        start_response("200 OK", [("Content-Type", JSON), ("Content-Length", str(len(data)))])
        return _LinesAfterReply(data, self.dispatcher, ctx)

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes | None:
        """The body, or None if it is over the limit (refused without reading it)."""
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                n = int(length)
            except ValueError:
                n = MAX_BODY + 1
            if n > MAX_BODY:
                return None
            return bytes(stream.read(n))
        data = stream.read(MAX_BODY + 1)  # chunked: read no more than the limit
        return None if len(data) > MAX_BODY else data
