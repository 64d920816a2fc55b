"""The errors a client can see, and the error codes they carry.

Every failure that reaches a client is a :class:`TargetdError` carrying a code of the wire
contract (``docs/contract.md``) and a message a person can act on. Messages must never
contain secrets.

The code table is open: :class:`Code` holds the protocol-level codes and the ones several
plugins answer (pools, volumes, file systems, exports of block volumes by
any protocol: -151, -303, -1000); a plugin declares its own codes as
:class:`ErrorCode` values through ``register.error_code(...)`` (the iSCSI and NFS codes of
the contract are declared that way by the plugins that answer them). The core refuses to
start when two plugins declare one number, naming both, and ``rpc.discover`` lists every
code with its meaning.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

_CODE_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


class ErrorCode(int):
    """An error code a plugin declares: its number (what the client sees), a symbolic
    name (``UPPER_CASE``) and its meaning (one line, for the API description).

    It is an ``int``: pass it to :class:`TargetdError` and to ``rpc_method(errors=...)``.
    """

    name: str
    meaning: str

    def __new__(cls, number: int, name: str, meaning: str) -> ErrorCode:
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"an error code number is an int, got {number!r}")
        if not _CODE_NAME.fullmatch(name):
            raise ValueError(f"error code name {name!r} must be UPPER_CASE (letters, digits, _)")
        if not meaning.strip():
            raise ValueError(f"error code {name} needs a meaning")
        obj = super().__new__(cls, number)
        obj.name = name
        obj.meaning = " ".join(meaning.split())
        return obj

    def __repr__(self) -> str:
        return f"ErrorCode({int(self)}, {self.name!r})"

    __str__ = int.__repr__


class Code(IntEnum):
    """The codes the core owns: the protocol's and those shared by every backend.

    Each member has a ``meaning`` (what ``rpc.discover`` shows)."""

    meaning: str

    def __new__(cls, number: int, meaning: str) -> Code:
        obj = int.__new__(cls, number)
        obj._value_ = number
        obj.meaning = meaning
        return obj

    UNEXPECTED = -1, "unexpected failure (a storage tool failed, the kernel refused)"
    INVALID_ARGUMENT = -32602, "invalid argument"
    NAME_CONFLICT = -50, "name in use"
    FS_CLONE_EXISTS = -51, "a file system with the clone's name exists"
    FS_OR_SNAPSHOT_EXISTS = -53, "a file system or snapshot with that name exists"
    VOLUME_NOT_FOUND = -103, "volume not found"
    FS_NOT_FOUND = -104, "file system not found"
    INVALID_POOL = -110, "invalid or unknown pool"
    SNAPSHOT_NOT_FOUND = -112, "snapshot not found"
    EXPORT_NOT_FOUND = -151, "volume export not found"
    VOLUME_GROUP_NOT_FOUND = -152, "volume group not found (the pool is missing on the host)"
    NOT_SUPPORTED = -153, "not supported"
    VOLUME_MASKED = -303, "volume is exported (masked) and cannot be removed"
    NO_FREE_LUN = -1000, "no free host LUN id"


def core_error_codes() -> list[ErrorCode]:
    """The core's codes as :class:`ErrorCode` values (for the registry)."""
    return [ErrorCode(int(c), c.name, c.meaning) for c in Code]


class TargetdError(Exception):
    """An error answered to the client as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        return f"TargetdError({self.code}, {self.message!r})"


class ConfigError(Exception):
    """A problem with one configuration key, found at start-up.

    The daemon collects every ConfigError (from the core and from every plugin) and
    refuses to start, listing each with its key.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class PluginError(Exception):
    """A plugin set is inconsistent (a pool or method claimed twice, an unknown plugin)."""
