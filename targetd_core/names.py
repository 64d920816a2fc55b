"""The contract's rules for names and sizes, in one place for every plugin."""

from __future__ import annotations

import math
import re

from .errors import Code, TargetdError

NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
#: Longest name accepted; LVM's own limit is 127 and ZFS' path limit is 255.
NAME_MAX = 127
#: Longest pool name accepted (Linux PATH_MAX: fs pools are mount points).
POOL_NAME_MAX = 4096
#: Control characters (C0, DEL, C1): never part of a pool name or any other text key.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(value: object, limit: int = 100) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters: a client can
    send 128 KiB as a name, and a message need not repeat it all."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid volume/fs/snapshot/access group name.

    Raises -32602 otherwise. Every plugin must call this (or declare its parameter as
    :data:`targetd_core.params.Name`) before building any path or command from a name.
    """
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or len(value) > NAME_MAX:
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {shown(value)}: names are 1 to {NAME_MAX} characters of "
            "a-z, A-Z, 0-9, '_' and '-'",
        )
    return value


def check_pool_name(value: object, what: str = "pool") -> str:
    """Return ``value`` if it can be a configured pool's name, else raise -32602.

    A pool name is only ever looked up among the configured pools (an unknown one is
    -110), never used to build a path, so the check is about text: a string of 1 to
    :data:`POOL_NAME_MAX` characters without control characters (newline, NUL...).
    """
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= POOL_NAME_MAX
        or CONTROL_RE.search(value) is not None
    ):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {shown(value)}: a pool name is 1 to {POOL_NAME_MAX} characters "
            "without control characters (newline, NUL, ...)",
        )
    return value


def check_size(value: object, what: str = "size") -> int:
    """Return ``value`` as an int if it is a valid size in bytes (a non-negative integer).

    Booleans, strings, negative numbers and floats with a fraction are refused with
    -32602; a float without a fraction (``1e9``) is accepted.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} must be an integer number of bytes, got {shown(value)}"
        )
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise TargetdError(
                Code.INVALID_ARGUMENT, f"{what} must be a whole number of bytes, got {shown(value)}"
            )
        value = int(value)
    if value < 0:
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must not be negative, got {value}")
    return value
