"""The WSGI application in-process (no server, no root): health, authentication, the
JSON-RPC path, the body limit."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from targetd_core import testing
from targetd_core.auth import Authenticator
from targetd_core.wsgi import MAX_BODY, TargetdApp

GOOD = "Basic " + base64.b64encode(b"admin:" + testing.PASSWORD.encode()).decode()


@pytest.fixture()
def app(tmp_path: Path) -> TargetdApp:
    t = testing.build({}, ["example"], tmp_path)
    return TargetdApp(t.dispatcher, Authenticator("admin", testing.PASSWORD, tmp_path / "tp"))


def call(
    app: TargetdApp, path: str, body: bytes = b"", auth: str | None = GOOD, verb: str = "POST"
) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ: dict[str, Any] = {
        "REQUEST_METHOD": verb,
        "PATH_INFO": path,
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    if auth is not None:
        environ["HTTP_AUTHORIZATION"] = auth
    out = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], out


def test_health_needs_no_auth(app: TargetdApp) -> None:
    assert call(app, "/healthz", auth=None, verb="GET")[0] == "200 OK"


def test_rpc_needs_auth(app: TargetdApp) -> None:
    status, headers, _ = call(app, "/targetrpc", b"{}", auth=None)
    assert status.startswith("401") and "WWW-Authenticate" in headers


def test_a_call_through_http_semantics(app: TargetdApp) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "method": "example_echo", "params": {"text": "hi"}, "id": 7}
    ).encode()
    status, headers, out = call(app, "/targetrpc", body)
    assert status == "200 OK" and headers["Content-Type"].startswith("application/json")
    assert json.loads(out) == {"jsonrpc": "2.0", "result": {"text": "hi", "name": None}, "id": 7}


def test_a_notification_gets_no_body(app: TargetdApp) -> None:
    body = json.dumps({"jsonrpc": "2.0", "method": "example_echo", "params": {"text": "x"}})
    status, _, out = call(app, "/targetrpc", body.encode())
    assert status.startswith("204") and out == b""


def test_an_oversized_body_is_refused_unread(app: TargetdApp) -> None:
    status, _, _ = call(app, "/targetrpc", b" " * (MAX_BODY + 1))
    assert status.startswith("413")


def _rpc(app: TargetdApp, body: bytes) -> Any:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/targetrpc",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_AUTHORIZATION": GOOD,
    }
    return app(environ, lambda status, headers: None)


@pytest.mark.parametrize(
    "body, lines",
    [
        (b'{"jsonrpc": "2.0", "method": "pool_list", "id": 1}', 1),
        (b'{"jsonrpc": "2.0", "method": "pool_list"}', 1),  # a notification: 204
        (b'[{"jsonrpc": "2.0", "method": "pool_list", "id": 1}, {"jsonrpc": "2.0"}]', 2),
    ],
)
def test_log_lines_are_written_when_the_server_closes_the_reply(
    app: TargetdApp, monkeypatch: pytest.MonkeyPatch, body: bytes, lines: int
) -> None:
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(app.dispatcher, "_rpc_line", lambda **kw: written.append(kw))
    reply = _rpc(app, body)
    b"".join(reply)
    assert written == []  # the reply is sent first (WSGI: close() comes after)
    reply.close()
    assert len(written) == lines and written[0]["method"] == "pool_list"
    reply.close()  # a second close writes nothing twice
    assert len(written) == lines
