#!/usr/bin/env python3
"""The daemon's own CPU per call, measured in one process: a figure other work on the
machine hardly moves (unlike calls per second), so changes to the request path can be
compared on a busy machine.

    python3 bench/bench_request_cpu.py                  # 20,000 calls, each stage
    python3 bench/bench_request_cpu.py --calls 50000 --rounds 5

It builds the application as ``targetd`` does (empty configuration: no plugins, no pools;
log level info, JSON log lines to a file; metrics in multiprocess mode) and measures
``pool_list`` three ways, each as the CPU time of the serving thread alone
(``time.thread_time``, user + system) divided by the calls:

- ``app``: the WSGI application called with a ready environ (auth, JSON-RPC, the lock,
  metrics, the log line), in two parts: until the reply is ready, and in the reply's
  ``close()``, which the server calls once the reply is sent (the log line is written
  there, so the client does not wait for it);
- ``app, no log line``: the same with the log level at warning;
- ``worker``: targetd's gunicorn worker serving a keep-alive connection over a
  loopback TCP socket (its fast path: ``recv``, parse, environ, application, reply,
  ``send``), fed by a raw-socket client on another thread whose CPU is not counted.

The best of ``--rounds`` rounds is printed for each (the least disturbed one).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BODY = b'{"jsonrpc":"2.0","id":1,"method":"pool_list"}'
PASSWORD = "bench-password"
AUTH = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def build_app(state: Path, level: str, log_file: Any, meter: Any = None) -> Any:
    """The application as ``targetd_core.cli.main`` builds it (its log to ``log_file``);
    the metrics object can be made once per process only."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from targetd_core import logs, metrics
    from targetd_core.auth import Authenticator
    from targetd_core.plugins import build_core
    from targetd_core.rpc import Dispatcher
    from targetd_core.wsgi import TargetdApp

    config = state / "targetd.yaml"
    config.write_text(
        f"password: {PASSWORD}\nstate_dir: {state}\nplugins: []\nlog_format: json\n"
        f"log_level: {level}\n"
    )
    config.chmod(0o600)
    core, _ = build_core(config)
    saved, sys.stderr = sys.stderr, log_file
    try:
        logs.add_secret(PASSWORD)
        logs.configure(core.config["log_level"], core.config["log_format"])
    finally:
        sys.stderr = saved
    if meter is None:
        metrics.prepare(state)
        meter = metrics.Metrics(core)
    auth = Authenticator("admin", PASSWORD, state / "tarpit")
    return TargetdApp(Dispatcher(core, meter), auth, meter)


def app_cpu(app: Any, calls: int) -> tuple[float, float]:
    """µs of CPU per call of the WSGI application itself: until the reply is ready,
    and in the reply's ``close()``, which a server calls after sending it."""

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"unexpected reply {status}")

    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/targetrpc",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(BODY)),
        "HTTP_AUTHORIZATION": AUTH,
    }
    before = after = 0.0
    clock = time.thread_time
    for _ in range(calls):
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(BODY)
        t0 = clock()
        reply = app(env, start_response)
        b"".join(reply)
        t1 = clock()
        if hasattr(reply, "close"):  # what a server runs after sending (the log line)
            reply.close()
        after += clock() - t1
        before += t1 - t0
    return before / calls * 1e6, after / calls * 1e6


def worker_cpu(app: Any, calls: int) -> float:
    """µs of CPU per call of targetd's worker serving one keep-alive connection."""
    from gunicorn.config import Config

    from targetd_core.worker import ConnectionThreadWorker

    cfg = Config()
    cfg.set("keepalive", 5)
    w = ConnectionThreadWorker.__new__(ConnectionThreadWorker)
    w.cfg, w.wsgi, w.alive, w.nr, w.max_requests = cfg, app, True, 0, sys.maxsize
    w.log = cfg.logger_class(cfg)
    w._lock, w._idle_conns, w._tls = threading.Lock(), set(), None
    w._request_timeout, w._fast, w._is_tls, w._idle_wait = 10.0, True, False, 5.0

    listener = socket.create_server(("127.0.0.1", 0))
    request = (
        f"POST /targetrpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: identity\r\n"
        f"Content-Length: {len(BODY)}\r\nContent-Type: application/json\r\n"
        f"Authorization: {AUTH}\r\n\r\n"
    ).encode() + BODY

    def client() -> None:
        s = socket.create_connection(listener.getsockname())
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(calls):
            s.sendall(request)
            data = s.recv(65536)
            while b'"result"' not in data:
                data += s.recv(65536)
        s.close()

    spent: list[float] = []

    def serve() -> None:
        conn, addr = listener.accept()
        t0 = time.thread_time()
        w._serve(listener, conn, addr)
        spent.append(time.thread_time() - t0)

    server = threading.Thread(target=serve)
    server.start()
    c = threading.Thread(target=client)
    c.start()
    c.join()
    server.join()
    listener.close()
    return spent[0] / calls * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp, open(os.devnull, "w") as null:
        results: dict[str, list[float]] = {}
        meter = None
        for level in ("warning", "info"):
            state = Path(tmp) / level
            state.mkdir()
            app = build_app(state, level, null, meter)
            meter = app.metrics
            app_cpu(app, 500)  # warm up: caches, lazily built loggers and series
            for _ in range(args.rounds):
                name = "app" if level == "info" else "app, no log line"
                ready, closing = app_cpu(app, args.calls)
                results.setdefault(name + ", until the reply is ready", []).append(ready)
                results.setdefault(name + ", after the reply (close)", []).append(closing)
                if level == "info":
                    results.setdefault("worker", []).append(worker_cpu(app, args.calls))
        for name in sorted(results):
            vals = results[name]
            print(
                f"| {name} | {min(vals):.1f} µs | (rounds: {', '.join(f'{v:.1f}' for v in vals)})"
            )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
