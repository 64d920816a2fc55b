"""Slow and hostile clients do not starve a valid one (a real daemon, 2 workers).

Bounded: each test opens its connections, measures a valid client for a few seconds and
closes everything well within a minute.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import requests

from .daemon import Daemon, start_daemon

BODY = b'{"jsonrpc":"2.0","id":1,"method":"pool_list"}'
REQUEST_TIMEOUT = 5.0
SLOW = 64  # of each kind: trickling a header byte per second, and silent


def _valid_client(d: Daemon, seconds: float) -> list[float]:
    """Latencies of back-to-back pool_list calls on one keep-alive connection."""
    out: list[float] = []
    session = requests.Session()
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        t0 = time.monotonic()
        r = session.post(d.url, data=BODY, auth=(d.user, d.password), timeout=30)
        out.append(time.monotonic() - t0)
        assert r.status_code == 200 and "result" in r.json(), r.text
    session.close()
    return out


def _p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def test_slow_connections_do_not_starve_a_valid_client_and_are_closed(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, request_timeout=REQUEST_TIMEOUT)
    host, port = d.url.split("/")[2].rsplit(":", 1)
    socks: list[socket.socket] = []
    try:
        for _ in range(2 * SLOW):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.setblocking(False)
            socks.append(s)
        opened = time.monotonic()
        trickle = socks[:SLOW]  # the others stay silent
        head = b"POST /targetrpc HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        stop = threading.Event()

        def drip() -> None:
            i = 0
            while not stop.wait(1.0 if i else 0):
                for s in trickle:
                    try:
                        s.send(head[i : i + 1])
                    except OSError:
                        pass  # closed by the daemon: what the test expects eventually
                i += 1

        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            time.sleep(1)
            latencies = _valid_client(d, 2.0)  # while every slow connection is open
            still_open = sum(not _closed_by_peer(s) for s in socks)
            # ...and once they are being closed
            latencies += _valid_client(d, REQUEST_TIMEOUT + 2.0 - (time.monotonic() - opened))
            deadline = opened + REQUEST_TIMEOUT + 5
            while time.monotonic() < deadline and not all(_closed_by_peer(s) for s in socks):
                time.sleep(0.2)
            closed_after = time.monotonic() - opened
            closed = sum(_closed_by_peer(s) for s in socks)
        finally:
            stop.set()
            dripper.join()
        assert still_open == 2 * SLOW, "slow connections were closed before request_timeout"
        assert closed == 2 * SLOW, f"only {closed} of {2 * SLOW} slow connections closed"
        assert closed_after < REQUEST_TIMEOUT + 5
        assert len(latencies) > 20
        assert _p99(latencies) < 1.0, sorted(latencies)[-5:]
    finally:
        for s in socks:
            s.close()
        d.stop()


def test_failed_login_flood_from_many_addresses_does_not_delay_a_valid_client(
    tmp_path: Path,
) -> None:
    """48 addresses (127.0.0.2...) keep failing logins, each held 1 s by the tarpit; a
    valid client is not held up by them (the tarpit delays only the failing address)."""
    d = start_daemon(tmp_path)
    host, port = d.url.split("/")[2].rsplit(":", 1)
    request = (
        b"POST /targetrpc HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46d3Jvbmc=\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    stop = threading.Event()
    refused: list[int] = []

    def attacker(n: int) -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(
                    (host, int(port)), timeout=10, source_address=(f"127.0.0.{n}", 0)
                ) as s:
                    s.sendall(request)
                    reply = s.recv(100)
                if not reply.startswith(b"HTTP/1.1 401"):
                    refused.append(n)
            except OSError:
                refused.append(n)

    attackers = [threading.Thread(target=attacker, args=(n,)) for n in range(2, 50)]
    try:
        for t in attackers:
            t.start()
        time.sleep(1.5)  # every attacker's first attempt is being delayed
        latencies = _valid_client(d, 4.0)
    finally:
        stop.set()
        for t in attackers:
            t.join(15)
        d.stop()
    assert not refused, f"attackers got something other than a delayed 401: {refused[:5]}"
    assert len(latencies) > 20
    assert _p99(latencies) < 1.0, sorted(latencies)[-5:]
