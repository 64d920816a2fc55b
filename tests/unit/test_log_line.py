"""The per-call log line rendered by targetd itself (logs.info_writer) is exactly the
line structlog writes, and structlog still writes it whenever the configuration is not
the one the renderer knows (property-based)."""

from __future__ import annotations

import datetime
import functools
import io
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from targetd_core import logs

SECRET = "s3cret-pw"


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """JSON logging at info into a buffer; the configuration restored afterwards."""
    saved, level, chain = structlog.get_config(), logs._min_level, list(logs._chain)
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    logs.add_secret(SECRET)
    logs.configure("info", "json")
    yield buf
    structlog.configure(**saved)
    logs._min_level = level
    logs._chain[:] = chain


def _lines(buf: io.StringIO) -> list[str]:
    text = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return text.splitlines()


def _same_but_time(theirs: str, ours: str) -> None:
    t1, t2 = json.loads(theirs)["timestamp"], json.loads(ours)["timestamp"]
    for t in (t1, t2):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", t), t
    assert theirs.replace(t1, "T") == ours.replace(t2, "T")


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from([SECRET, f"x{SECRET}y", "127.0.0.1", "::1"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
keys = st.text(min_size=1, max_size=12).filter(  # no surrogates: text() leaves them out
    lambda k: k not in ("event", "level", "timestamp", "exc_info", "stack_info")
) | st.sampled_from(["password", "token", "client", "user", "method", "id", "outcome"])


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(keys, values, max_size=8))
def test_the_rendered_line_is_structlogs_line(fields: dict[str, Any]) -> None:
    buf = io.StringIO()
    saved, level, chain = structlog.get_config(), logs._min_level, list(logs._chain)
    old, sys.stderr = sys.stderr, buf
    try:
        logs.add_secret(SECRET)
        logs.configure("info", "json")
        log = structlog.get_logger("t").bind()
        line = logs.info_writer(log, "rpc")
        assert line is not None and not isinstance(line, functools.partial)  # rendered here
        log.info("rpc", **fields)
        line(**dict(fields))
    finally:
        sys.stderr = old
        structlog.configure(**saved)
        logs._min_level, logs._chain[:] = level, chain
    theirs, ours = _lines(buf)
    _same_but_time(theirs, ours)
    assert SECRET not in ours


def test_the_daemons_call_line(stream: io.StringIO) -> None:
    log = structlog.get_logger("targetd.rpc").bind(component="x")  # a bound context too
    line = logs.info_writer(log, "rpc")
    assert line is not None and not isinstance(line, functools.partial)
    fields = {
        "client": "127.0.0.1",
        "user": "admin",
        "method": "pool_list",
        "id": 7,
        "notification": False,
        "duration_ms": 0.12,
        "outcome": "ok",
    }
    log.info("rpc", **fields)
    line(**fields)
    theirs, ours = _lines(stream)
    _same_but_time(theirs, ours)
    assert list(json.loads(ours)) == [
        "component", *fields, "event", "level", "timestamp"
    ]  # fmt: skip


def test_nothing_is_rendered_when_info_is_off(stream: io.StringIO) -> None:
    logs.configure("warning", "json")
    assert logs.info_writer(structlog.get_logger("t").bind(), "rpc") is None


def test_a_capture_of_the_log_still_sees_the_line(stream: io.StringIO) -> None:
    line = logs.info_writer(structlog.get_logger("t").bind(), "rpc")
    assert line is not None
    with capture_logs() as captured:
        line(client="127.0.0.1", outcome="ok")
    assert captured == [
        {"client": "127.0.0.1", "outcome": "ok", "event": "rpc", "log_level": "info"}
    ]
    assert _lines(stream) == []


def test_a_bound_context_variable_goes_through_structlog(stream: io.StringIO) -> None:
    log = structlog.get_logger("t").bind()
    line = logs.info_writer(log, "rpc")
    assert line is not None
    structlog.contextvars.bind_contextvars(request="r1")
    try:
        line(outcome="ok")
    finally:
        structlog.contextvars.clear_contextvars()
    (written,) = _lines(stream)
    assert json.loads(written)["request"] == "r1"


def test_the_console_format_is_left_to_structlog(stream: io.StringIO) -> None:
    logs.configure("info", "console")
    log = structlog.get_logger("t").bind()
    line = logs.info_writer(log, "rpc")
    assert isinstance(line, functools.partial)


def test_exc_info_is_left_to_structlog(stream: io.StringIO) -> None:
    line = logs.info_writer(structlog.get_logger("t").bind(), "rpc")
    assert line is not None
    try:
        raise ValueError("boom")
    except ValueError:
        line(exc_info=True)
    (written,) = _lines(stream)
    assert "ValueError: boom" in json.loads(written)["exception"]


@pytest.mark.parametrize("micros", [0, 1, 999_999, 123_456])
def test_timestamps_are_structlogs(monkeypatch: pytest.MonkeyPatch, micros: int) -> None:
    second = 1_764_561_906  # 2025-12-01T04:05:06Z
    monkeypatch.setattr(logs.time, "time_ns", lambda: (second * 1_000_000 + micros) * 1000)
    when = datetime.datetime.fromtimestamp(second, datetime.UTC).replace(microsecond=micros)
    # structlog's TimeStamper(fmt="iso", utc=True): isoformat with "Z"
    assert logs._timestamp() == when.isoformat().replace("+00:00", "Z")
