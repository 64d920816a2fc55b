"""Signals, the storage lock across workers, and logs."""

from __future__ import annotations

import json
import signal
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest

from .daemon import Daemon, start_daemon


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_lets_in_flight_requests_finish(tmp_path: Path, sig: int) -> None:
    d = start_daemon(tmp_path)
    replies: list[dict] = []
    t = threading.Thread(
        target=lambda: replies.append(d.rpc("example_slow_change", {"seconds": 2}))
    )
    t.start()
    time.sleep(0.7)
    d.proc.send_signal(sig)
    t.join(30)
    assert replies and "result" in replies[0], replies
    assert d.proc.wait(30) == 0


def _run_concurrently(d: Daemon, method: str, n: int, seconds: float) -> list[list[float]]:
    out: list[list[float]] = []
    lock = threading.Lock()

    def one() -> None:
        r = d.call(method, seconds=seconds)
        with lock:
            out.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(out)


def test_changes_are_serialised_across_workers(daemon: Daemon) -> None:
    intervals = _run_concurrently(daemon, "example_slow_change", 6, 0.3)
    assert len(intervals) == 6
    for (_, end), (start, _) in pairwise(intervals):
        assert start >= end - 0.005, intervals  # no two changes overlap


def test_reads_run_side_by_side(daemon: Daemon) -> None:
    intervals = _run_concurrently(daemon, "example_slow_read", 4, 1.0)
    overlapping = sum(1 for (_, end), (start, _) in pairwise(intervals) if start < end)
    assert overlapping >= 1, intervals


def test_one_log_event_per_request(daemon: Daemon) -> None:
    daemon.rpc("pool_list", id="log-probe-17")
    time.sleep(0.2)
    events = [json.loads(line) for line in daemon.log().splitlines() if line.startswith("{")]
    (ev,) = [e for e in events if e.get("id") == "log-probe-17"]
    assert ev["event"] == "rpc" and ev["method"] == "pool_list" and ev["user"] == "admin"
    assert ev["client"] == "127.0.0.1" and ev["outcome"] == "ok" and "duration_ms" in ev


def test_secrets_never_logged(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, log_level="debug")
    try:
        d.call("example_login", user="u", token="TOKEN-VALUE-123")
        d.post("{}", auth=("admin", "WRONG-PASSWORD-456"))
        d.rpc("example_crash")
    finally:
        d.stop()
    log = d.log()
    assert "example_login" in log  # the call was logged (at debug, with its params)
    for secret in ("TOKEN-VALUE-123", "WRONG-PASSWORD-456", d.password):
        assert secret not in log
