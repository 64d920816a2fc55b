"""A stop signal that reaches a worker between its fork and gunicorn's installing the
worker's own handlers (targetd_core.server._post_fork)."""

from __future__ import annotations

import os
import queue
import signal
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from targetd_core.server import _post_fork


@pytest.fixture(autouse=True)
def _restore_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _queue(kind: str, signals: list[int]) -> object:
    if kind == "list":  # gunicorn 20.1
        return list(signals)
    q: queue.SimpleQueue[int] = queue.SimpleQueue()  # later releases
    for s in signals:
        q.put_nowait(s)
    return q


@pytest.mark.parametrize("kind", ["list", "queue"])
@pytest.mark.parametrize(
    ("queued", "alive"),
    [
        ([], True),
        ([signal.SIGHUP, signal.SIGCHLD], True),
        ([signal.SIGTERM], False),
        ([signal.SIGCHLD, signal.SIGINT], False),
        ([signal.SIGQUIT], False),
    ],
)
def test_a_stop_queued_by_the_masters_handler_stops_the_worker(
    kind: str, queued: list[int], alive: bool
) -> None:
    worker = SimpleNamespace(alive=True)
    _post_fork(SimpleNamespace(SIG_QUEUE=_queue(kind, queued)), worker)
    assert worker.alive is alive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_a_stop_signal_after_the_fork_stops_the_worker(sig: int) -> None:
    worker = SimpleNamespace(alive=True)
    _post_fork(SimpleNamespace(SIG_QUEUE=[]), worker)
    os.kill(os.getpid(), sig)  # handled before kill() returns to Python code
    assert worker.alive is False
