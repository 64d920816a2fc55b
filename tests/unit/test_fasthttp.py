"""The worker's fast path (targetd_core.fasthttp): which heads it takes, and that it
leaves every other one to gunicorn's parser."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from targetd_core import fasthttp
from targetd_core.auth import Authenticator, Verdict

PLAIN = (
    b"POST /targetrpc HTTP/1.1\r\nHost: 127.0.0.1:18700\r\nAccept-Encoding: identity\r\n"
    b"Content-Length: 45\r\nContent-Type: application/json\r\nAuthorization: Basic YTpi"
)


def test_a_client_head_is_plain() -> None:
    req = fasthttp.parse_head(PLAIN)
    assert req is not None
    assert (req.method, req.path, req.length, req.close) == ("POST", "/targetrpc", 45, False)
    assert req.headers == {
        "HTTP_HOST": "127.0.0.1:18700",
        "HTTP_ACCEPT_ENCODING": "identity",
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": "Basic YTpi",
    }


def test_connection_close_is_seen() -> None:
    req = fasthttp.parse_head(PLAIN + b"\r\nConnection: close")
    assert req is not None and req.close


def test_get_without_length_has_an_empty_body() -> None:
    req = fasthttp.parse_head(b"GET /healthz HTTP/1.1\r\nHost: x")
    assert req is not None and req.length == 0


NOT_PLAIN = [
    b"POST /targetrpc HTTP/1.0\r\nContent-Length: 2",  # HTTP/1.0
    b"HEAD /healthz HTTP/1.1",
    b"PUT /targetrpc HTTP/1.1\r\nContent-Length: 2",
    b"POST /targetrpc?x=1 HTTP/1.1\r\nContent-Length: 2",
    b"POST /target%72pc HTTP/1.1\r\nContent-Length: 2",
    b"POST http://h/targetrpc HTTP/1.1\r\nContent-Length: 2",
    b"POST /targetrpc HTTP/1.1",  # no length: gunicorn decides
    b"POST /targetrpc HTTP/1.1\r\nTransfer-Encoding: chunked",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: +2",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 99999999",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\r\nX-Forwarded-For: 1.2.3.4",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\r\nConnection: upgrade",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\r\n folded",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length : 2",
    b"POST /targetrpc HTTP/1.1\r\nContent_Length: 2",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\r\nHost: \xff",
    b"POST /targetrpc HTTP/1.1\r\nContent-Length: 2\nHost: x",
    b"POST  /targetrpc HTTP/1.1\r\nContent-Length: 2",
]


def test_unusual_heads_go_to_gunicorn() -> None:
    for head in NOT_PLAIN:
        assert fasthttp.parse_head(head) is None, head


@given(st.binary(max_size=300))
def test_any_bytes_are_plain_only_if_they_look_it(head: bytes) -> None:
    req = fasthttp.parse_head(head)
    if req is not None:
        assert head.startswith((b"GET /", b"POST /"))
        assert b" HTTP/1.1" in head.split(b"\r\n", 1)[0]
        assert 0 <= req.length <= fasthttp.MAX_BODY
        for value in req.headers.values():
            assert "\r" not in value and "\n" not in value


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40))
def test_a_header_value_is_kept_whole(value: str) -> None:
    req = fasthttp.parse_head(b"GET /healthz HTTP/1.1\r\nUser-Agent:  " + value.encode() + b" ")
    assert req is not None
    assert req.headers.get("HTTP_USER_AGENT", "") == value


def test_reply_has_gunicorn_framing() -> None:
    reply = fasthttp.Reply()
    reply.start_response("204 No Content", [])
    data = fasthttp.render(reply, b"", close=False)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"\r\nConnection: keep-alive" in head and b"Content-Length" not in head
    reply.start_response("200 OK", [("Content-Type", "text/plain")])
    data = fasthttp.render(reply, b"ok", close=True)
    assert b"\r\nConnection: close\r\n" in data and b"\r\nContent-Length: 2\r\n" in data
    assert data.endswith(b"\r\n\r\nok")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_verified_header_cache_never_admits_another(tmp_path) -> None:
    auth = Authenticator("admin", "s3cret", tmp_path / "tarpit")
    good = _basic("admin", "s3cret")
    assert auth.check(good) == (Verdict.OK, "admin")
    assert auth.check(good) == (Verdict.OK, "admin")  # from the cache
    assert auth.check(_basic("admin", "s3creT"))[0] is Verdict.WRONG
    assert auth.check(good + " ")[0] is Verdict.OK  # parsed again: strip() as before
    assert auth.check(None)[0] is Verdict.MISSING
    assert auth.check("Basic \udcff")[0] is Verdict.MALFORMED
    assert auth.check(good) == (Verdict.OK, "admin")
