"""The contract's rules for names and sizes, in one place for every plugin."""

from __future__ import annotations

import math
import re

from .errors import Code, TargetdError

NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
#: Longest name accepted; LVM's own limit is 127 and ZFS' path limit is 255.
NAME_MAX = 127


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid volume/fs/snapshot/access group name.

    Raises -32602 otherwise. Every plugin must call this (or declare its parameter as
    :data:`targetd_core.params.Name`) before building any path or command from a name.
    """
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or len(value) > NAME_MAX:
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {value!r}: names are 1 to {NAME_MAX} characters of "
            "a-z, A-Z, 0-9, '_' and '-'",
        )
    return value


def check_size(value: object, what: str = "size") -> int:
    """Return ``value`` as an int if it is a valid size in bytes (a non-negative integer).

    Booleans, strings, negative numbers and floats with a fraction are refused with
    -32602; a float without a fraction (``1e9``) is accepted.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} must be an integer number of bytes, got {value!r}"
        )
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise TargetdError(
                Code.INVALID_ARGUMENT, f"{what} must be a whole number of bytes, got {value!r}"
            )
        value = int(value)
    if value < 0:
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must not be negative, got {value}")
    return value
