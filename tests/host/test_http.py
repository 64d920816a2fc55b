"""The contract's Transport table, against a real gunicorn process (HTTP and HTTPS)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time

import pytest
import requests

from .daemon import Daemon

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "pool_list"})


def test_valid_call_is_200_json_exactly(any_daemon: Daemon) -> None:
    r = any_daemon.post(BODY)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert set(r.json()) == {"jsonrpc", "id", "result"}


def test_error_reply_has_exactly_the_members(any_daemon: Daemon) -> None:
    r = any_daemon.post(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "nope"}))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"jsonrpc", "id", "error"}
    assert set(body["error"]) <= {"code", "message", "data"}
    assert body["error"]["code"] == -32601


def test_other_path_with_credentials_is_404(any_daemon: Daemon) -> None:
    url = any_daemon.url.replace("/targetrpc", "/other")
    r = requests.post(
        url, data=BODY, auth=("admin", any_daemon.password), verify=any_daemon.verify, timeout=10
    )
    assert r.status_code == 404


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_verbs_are_405(any_daemon: Daemon, verb: str) -> None:
    r = requests.request(
        verb,
        any_daemon.url,
        auth=("admin", any_daemon.password),
        verify=any_daemon.verify,
        timeout=10,
    )
    assert r.status_code == 405


def test_no_credentials_is_401_with_challenge(any_daemon: Daemon) -> None:
    r = any_daemon.post(BODY, auth=None)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="targetd"'


@pytest.mark.parametrize("header", ["Basic !!!notbase64", "Basic " + "dXNlcg==", "Bearer abc"])
def test_malformed_authorization_is_400(daemon: Daemon, header: str) -> None:
    r = requests.post(daemon.url, data=BODY, headers={"Authorization": header}, timeout=10)
    assert r.status_code == 400


def test_wrong_password_is_401_after_a_delay(any_daemon: Daemon) -> None:
    start = time.monotonic()
    r = any_daemon.post(BODY, auth=("admin", "wrong"))
    assert r.status_code == 401
    assert time.monotonic() - start >= 1.0
    assert r.headers["WWW-Authenticate"] == 'Basic realm="targetd"'


def test_wrong_user_is_401(daemon: Daemon) -> None:
    r = daemon.post(BODY, auth=("root", daemon.password))
    assert r.status_code == 401


def test_concurrent_bad_logins_get_503_at_once(daemon: Daemon) -> None:
    """One failed attempt is delayed; the others from the same address, landing on
    either worker, are answered 503 at once, and so is a correct login meanwhile."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def attempt(password: str) -> None:
        t0 = time.monotonic()
        r = requests.post(daemon.url, data=BODY, auth=("admin", password), timeout=10)
        with lock:
            results.append((r.status_code, time.monotonic() - t0))

    first = threading.Thread(target=attempt, args=("bad-0",))
    first.start()
    time.sleep(0.2)  # the first attempt is now being delayed
    others = [threading.Thread(target=attempt, args=(f"bad-{i}",)) for i in range(1, 7)]
    others.append(threading.Thread(target=attempt, args=(daemon.password,)))
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join()
    codes = sorted(code for code, _ in results)
    assert codes.count(401) == 1, results
    assert codes.count(503) == 7, results
    assert all(elapsed < 0.7 for code, elapsed in results if code == 503), results
    # After the delay the right password works again.
    assert daemon.post(BODY).status_code == 200


def test_body_over_128k_is_413(any_daemon: Daemon) -> None:
    big = (
        '{"jsonrpc": "2.0", "id": 1, "method": "pool_list", "params": {"x": "'
        + "a" * 131072
        + '"}}'
    )
    r = any_daemon.post(big)
    assert r.status_code == 413


def test_body_of_exactly_128k_is_read(daemon: Daemon) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "example_echo", "params": {"text": ""}})
    body = body.replace('"text": ""', '"text": "' + "a" * (131072 - len(body)) + '"')
    assert len(body) == 131072
    r = daemon.post(body)
    assert r.status_code == 200
    assert len(r.json()["result"]["text"]) > 130000


def test_413_without_reading_the_body(daemon: Daemon) -> None:
    """Announce 100 MB, send none of it: the answer comes anyway."""
    host, port = daemon.url.split("//")[1].split("/")[0].rsplit(":", 1)
    import base64

    creds = base64.b64encode(f"admin:{daemon.password}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            (
                "POST /targetrpc HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Basic {creds}\r\nContent-Type: application/json\r\n"
                "Content-Length: 104857600\r\n\r\n"
            ).encode()
        )
        reply = s.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")


def test_chunked_body_over_limit_is_413(daemon: Daemon) -> None:
    def gen():  # requests sends a generator chunked, without Content-Length
        for _ in range(20):
            yield b"x" * 10000

    r = requests.post(daemon.url, data=gen(), auth=("admin", daemon.password), timeout=10)
    assert r.status_code == 413


def test_tls_only_modern_versions(tls_daemon: Daemon, tls_files: dict[str, str]) -> None:
    host, port = tls_daemon.url.split("//")[1].split("/")[0].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=tls_files["ca"])
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with pytest.warns(DeprecationWarning):
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with old.wrap_socket(raw, server_hostname=host):
                pass


def test_https_port_does_not_speak_plain_http(tls_daemon: Daemon) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.post(
            tls_daemon.url.replace("https://", "http://"),
            data=BODY,
            auth=("admin", tls_daemon.password),
            timeout=10,
        )


def _raw_exchange(daemon: Daemon, head: str, body: bytes = b"") -> tuple[str, bool]:
    """Send one raw request; (the reply's head, whether the server then closed)."""
    import base64

    host, port = daemon.url.split("//")[1].split("/")[0].rsplit(":", 1)
    creds = base64.b64encode(f"admin:{daemon.password}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            (
                f"POST /targetrpc HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {creds}\r\n"
                f"Content-Type: application/json\r\n{head}\r\n"
            ).encode()
            + body
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        reply_head = data.split(b"\r\n\r\n")[0].decode()
        s.settimeout(5)
        try:
            while chunk := s.recv(65536):
                pass
            closed = True
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
    return reply_head, closed


@pytest.mark.parametrize("sent", [0, 200000])
def test_413_says_connection_close_and_closes(daemon: Daemon, sent: int) -> None:
    """The rest of an over-long body is never read, so the connection cannot carry
    another request: the reply says so, and the server closes it."""
    head, closed = _raw_exchange(daemon, "Content-Length: 104857600\r\n", b"x" * sent)
    assert head.startswith("HTTP/1.1 413"), head
    assert "connection: close" in head.lower(), head
    assert "keep-alive" not in head.lower(), head
    assert closed


def test_ordinary_reply_keeps_the_connection_alive(daemon: Daemon) -> None:
    body = BODY.encode()
    head, closed = _raw_exchange(daemon, f"Content-Length: {len(body)}\r\n", body)
    assert head.startswith("HTTP/1.1 200"), head
    assert "connection: close" not in head.lower()
    assert not closed


def _post_from(daemon: Daemon, source: str, password: str) -> tuple[int, float]:
    """POST from a chosen loopback source address: (status, seconds taken)."""
    import base64
    import http.client

    host, port = daemon.url.split("//")[1].split("/")[0].rsplit(":", 1)
    creds = base64.b64encode(f"admin:{password}".encode()).decode()
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    t0 = time.monotonic()
    try:
        conn.request(
            "POST",
            "/targetrpc",
            body=BODY,
            headers={"Authorization": f"Basic {creds}", "Content-Type": "application/json"},
        )
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.monotonic() - t0


# 127.0.232.103 shared a tarpit slot with 127.0.0.1 when slots were a 16-bit hash of
# the address; 127.0.0.2 did not. Neither may be held up by 127.0.0.1 now.
@pytest.mark.parametrize("other", ["127.0.232.103", "127.0.0.2"])
def test_a_failed_login_does_not_hold_up_another_address(daemon: Daemon, other: str) -> None:
    results: dict[str, tuple[int, float]] = {}
    bad = threading.Thread(
        target=lambda: results.__setitem__("bad", _post_from(daemon, "127.0.0.1", "wrong"))
    )
    bad.start()
    time.sleep(0.3)  # the failed attempt from 127.0.0.1 is being delayed now
    results["good"] = _post_from(daemon, other, daemon.password)
    results["same"] = _post_from(daemon, "127.0.0.1", daemon.password)
    bad.join()
    assert results["bad"][0] == 401, results
    assert results["good"][0] == 200, results  # was 503 for the colliding address
    assert results["same"][0] == 503, results  # the delayed address itself still waits
    assert results["good"][1] < 0.7, results


def test_tarpit_keeps_no_file_per_address(daemon: Daemon) -> None:
    """Slots exist only while a delay runs: many failing addresses leave nothing behind."""
    tarpit = daemon.config_path.parent / "state" / "tarpit"
    threads = [
        threading.Thread(target=_post_from, args=(daemon, f"127.0.9.{i}", "wrong"))
        for i in range(1, 9)
    ]
    for t in threads:
        t.start()
    time.sleep(0.4)
    during = sorted(os.listdir(tarpit))
    for t in threads:
        t.join()
    assert during == sorted(f"v4-127.0.9.{i}" for i in range(1, 9))
    assert os.listdir(tarpit) == []
