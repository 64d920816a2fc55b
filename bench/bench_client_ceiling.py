#!/usr/bin/env python3
"""What ``bench_rpc.py``'s Python loads can measure at all on this machine.

    python3 bench/bench_client_ceiling.py                  # work 0,25,50,100,200 µs; 1 and 8 clients
    python3 bench/bench_client_ceiling.py --work 0,50 --clients 1 --transports http

The same client code as ``bench_rpc.py`` (``http.client`` with keep-alive, one thread
per connection) calls a stand-in server instead of targetd: a forked process with a
thread per connection that reads a request, spins for ``--work`` µs of CPU, and answers
with the bytes targetd answers ``pool_list`` with (same status line and headers). With
no work it is the most any server could reach with that client on this machine; with
some, it shows what a request path costing that much CPU can reach, so a target
rate for one client converts into a CPU budget per call for the daemon.

``--serve PORT`` instead runs the stand-in in the foreground on that loopback port (over
HTTPS with ``--tls``, spinning ``--work`` µs), for ``bench_rpc.py --reference``: the
daemon and a server that does nothing, measured alternately in the same minutes:

    python3 bench/bench_client_ceiling.py --serve 18791 --work 0 &
    python3 bench/bench_rpc.py --transports http --loads 1,8 \
        --reference http://127.0.0.1:18791/targetrpc
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rpc import PASSWORD, Target, _basic, python_load  # noqa: E402

BODY = b'{"jsonrpc":"2.0","result":[],"id":1}'
REPLY = (
    b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Tue, 01 Dec 2026 08:00:00 GMT\r\n"
    b"Connection: keep-alive\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
) + BODY


def _answer(conn: socket.socket, work: float) -> None:
    """Serve one connection: each whole request (head and Content-Length body, which may
    come in several reads, e.g. as several TLS records) gets one reply after ``work``
    seconds of CPU."""
    spin = time.thread_time
    buf = b""
    with contextlib.suppress(OSError), conn:
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                end = buf.find(b"\r\n\r\n")
            m = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", buf[:end])
            stop = end + 4 + (int(m[1]) if m else 0)
            while len(buf) < stop:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[stop:]
            until = spin() + work
            while spin() < until:
                pass
            conn.sendall(REPLY)


def _serve(listener: socket.socket, work: float, tls: ssl.SSLContext | None) -> None:
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                continue
        threading.Thread(target=_answer, args=(conn, work), daemon=True).start()


def stand_in(work_us: float, tls: ssl.SSLContext | None) -> tuple[int, int]:
    """Start the stand-in server: (its pid, its port)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        try:
            _serve(listener, work_us / 1e6, tls)
        finally:
            os._exit(0)
    listener.close()
    return pid, port


def tls_context(workdir: Path) -> ssl.SSLContext:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    return ctx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="0,25,50,100,200", help="µs of CPU per call, comma-separated")
    ap.add_argument("--clients", default="1,8", help="client threads, comma-separated")
    ap.add_argument("--transports", default="http,https")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per row")
    ap.add_argument("--serve", type=int, default=None, metavar="PORT", help="only serve")
    ap.add_argument("--tls", action="store_true", help="with --serve: over HTTPS")
    args = ap.parse_args()
    if args.serve is not None:
        listener = socket.create_server(("127.0.0.1", args.serve), backlog=128)
        with tempfile.TemporaryDirectory() as tmp:
            tls = tls_context(Path(tmp)) if args.tls else None
            _serve(listener, float(args.work.split(",")[0]) / 1e6, tls)
        return 0
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {os.getloadavg()[0]:.2f}, "
        f"{os.cpu_count()} CPUs, {args.duration:g} s per row"
    )
    print(
        "| server work per call | clients | transport | req/s | p50 ms | p99 ms | client CPU µs/req |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for transport in args.transports.split(","):
            tls = tls_context(Path(tmp)) if transport == "https" else None
            for work in (float(w) for w in args.work.split(",")):
                for clients in (int(c) for c in args.clients.split(",")):
                    pid, port = stand_in(work, tls)
                    try:
                        target = Target(
                            "127.0.0.1",
                            port,
                            tls is not None,
                            "/targetrpc",
                            _basic("admin", PASSWORD),
                        )
                        mine0 = time.process_time()
                        r = python_load(target, clients, args.duration, f"{clients}")
                        client_us = (time.process_time() - mine0) / max(1, r.requests) * 1e6
                    finally:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                    p50, p99 = r.pct(0.5), r.pct(0.99)
                    print(
                        f"| {work:g} µs | {clients} | {transport} | {r.rate:,.0f} | "
                        f"{(p50 or 0) * 1000:.2f} | {(p99 or 0) * 1000:.2f} | {client_us:.0f} |"
                        + (f" {r.note}" if r.note else ""),
                        flush=True,
                    )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
