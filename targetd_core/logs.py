"""Structured logging (structlog): console for people on a terminal, JSON lines otherwise.

Secrets never reach the log: values of keys that look like secrets are replaced, and
the configured password is scrubbed from every string as a second line of defence.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog

SECRET_KEY_RE = re.compile(r"pass|secret|token|authorization", re.IGNORECASE)
REDACTED = "<redacted>"

_secrets: set[str] = set()

# The level configure() filters at: older structlog (Debian 12 ships 22.3) has no
# ``is_enabled_for`` on its filtering loggers, so enabled_for() falls back to this.
# NOTSET (nothing filtered) is structlog's own default until configure() runs.
_min_level = logging.NOTSET


def add_secret(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from any log line."""
    if value and len(value) >= 3:
        _secrets.add(value)


def redact_params(params: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of RPC params with secret values replaced (for debug logging)."""
    extra = set(extra)
    return {
        k: REDACTED if (k in extra or SECRET_KEY_RE.search(k)) and v else v
        for k, v in params.items()
    }


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for s in _secrets:
            if s in value:
                value = value.replace(s, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if SECRET_KEY_RE.search(str(k)) and v else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Whether a key names a secret (event keys are few: each is looked at once)."""
    return SECRET_KEY_RE.search(key) is not None


def _redact_processor(logger: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (REDACTED if v and _secret_key(k) else v if type(v) in _PLAIN else _scrub(v))
        for k, v in event.items()
    }


_PLAIN = (int, float, bool, type(None))  # nothing to scrub in these


def _json_fallback(obj: Any) -> Any:
    """What a log line holds for a value JSON has no form for (structlog's own rule)."""
    try:
        return obj.__structlog__()
    except AttributeError:
        return repr(obj)


def _make_encoder() -> Callable[[Any], str]:
    """One encoder for every JSON log line, made once: ``json.dumps(..., default=...)``
    builds an encoder object and its C scanner per line. The text is json.dumps's with
    structlog's defaults (log values are never circular: no check for that)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return json.JSONEncoder(default=_json_fallback).encode
    chunks = make(
        None, _json_fallback, json.encoder.encode_basestring_ascii, None, ": ", ", ",
        False, False, True,
    )  # fmt: skip

    def encode(obj: Any) -> str:
        return "".join(chunks(obj, 0))

    return encode


_encode = _make_encoder()


def _serialize(event: Any, **_kw: Any) -> str:
    return _encode(event)


_UTC = datetime.UTC
_renderer = structlog.processors.JSONRenderer(serializer=_serialize)
_chain: list[Any] = []  # the processors configure() installed last


_second: list[Any] = [-1, ""]  # the last whole second stamped, and its text


def _timestamp() -> str:
    """The time as structlog's TimeStamper(fmt="iso", utc=True) writes it
    (``2026-12-01T04:05:06.123456Z``; no fraction at a whole second), with the date
    and time of day formatted once per second."""
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    if second != _second[0]:
        text = datetime.datetime.fromtimestamp(second, _UTC).isoformat()
        _second[:] = [second, text.replace("+00:00", "")]
    return f"{_second[1]}.{fraction:06d}Z" if fraction else _second[1] + "Z"


def info_writer(logger: Any, event: str) -> Callable[..., None] | None:
    """A function that logs ``event`` at info level with the fields it is given, as
    ``logger.info(event, **fields)`` would, for a line written on every call.

    None when the level is off (so that the caller skips computing the fields too). When the line is a JSON line of the processors :func:`configure` installed,
    it is rendered here, without structlog's processor chain (which costs more than a
    listing call itself), into exactly the text structlog writes: checked once here on
    a probe line, and by ``tests/unit/test_log_line.py``. Anything else (the console
    format, a test's capture of the log, a bound context variable, ``exc_info``) goes
    through ``logger.info`` as before.
    """
    if not enabled_for(logger, logging.INFO):
        return None
    slow = functools.partial(logger.info, event)
    processors = getattr(logger, "_processors", None)
    context = getattr(logger, "_context", None)
    write = getattr(getattr(logger, "_logger", None), "msg", None)
    bound_vars = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    if (
        processors is None
        or not isinstance(context, dict)
        or write is None
        or not isinstance(bound_vars, dict)
        or not _chain
        or _chain[-1] is not _renderer
        or list(processors) != _chain
    ):
        return slow
    base = dict(context)
    n = len(processors)

    def render(kw: dict[str, Any]) -> str:
        d = {**base, **kw} if base else kw
        d["event"] = event
        d["level"] = "info"
        d["timestamp"] = _timestamp()
        return _encode(_redact_processor(None, "info", d))

    if not _same_as_structlog(render, processors, logger, event):
        return slow

    def line(**kw: Any) -> None:
        # structlog if the chain changed (a capture replaces it in place), a context
        # variable was ever bound (merge_contextvars would add it), or there is an error
        if bound_vars or len(processors) != n or processors[-1] is not _renderer:
            slow(**kw)
        elif "exc_info" in kw:
            slow(**kw)
        else:
            write(render(kw))

    return line


def _same_as_structlog(
    render: Callable[[dict[str, Any]], str], processors: Any, logger: Any, event: str
) -> bool:
    """Whether ``render`` writes a probe line as structlog's processors do (the
    timestamps aside, which are taken at different instants)."""
    probe = {
        "client": "::1",
        "user": 'ädmin "x"',
        "method": "pool_list",
        "id": 1.5,
        "notification": False,
        "duration_ms": 0.01,
        "outcome": "ok",
        "nothing": None,
        "nested": {"password": "x", "list": [1, "two"]},
    }
    try:
        theirs: Any = {**logger._context, **probe, "event": event}
        for proc in processors:
            theirs = proc(logger._logger, "info", theirs)
        ours = render(dict(probe))
        t1, t2 = json.loads(theirs)["timestamp"], json.loads(ours)["timestamp"]
    except Exception:  # any surprise: leave the line to structlog
        return False
    return isinstance(theirs, str) and theirs.replace(t1, "T") == ours.replace(t2, "T")


def enabled_for(logger: Any, level: int) -> bool:
    """Whether ``logger`` emits events at ``level`` (a stdlib level number), so that
    work for an event that would be dropped can be skipped, checked once by the caller.
    Asks the logger where structlog can tell; otherwise the level configure() set."""
    check = getattr(logger, "is_enabled_for", None)
    if check is not None:
        return bool(check(level))
    return level >= _min_level


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog (and the stdlib logging that gunicorn uses)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    global _min_level
    numeric = logging.getLevelName(level.upper())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
        structlog.processors.format_exc_info,
    ]
    if use_console:
        processors[-1] = structlog.dev.set_exc_info
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    else:
        processors.append(_renderer)
    _chain[:] = processors
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),  # one write per line
        cache_logger_on_first_use=False,
    )
    _min_level = numeric
    logging.basicConfig(
        level=numeric, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
