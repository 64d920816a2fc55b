"""Structured logging (structlog): console for people on a terminal, JSON lines otherwise.

Secrets never reach the log: values of keys that look like secrets are replaced, and
the configured password is scrubbed from every string as a second line of defence.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Iterable, Mapping
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
        processors.append(structlog.processors.JSONRenderer())
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
