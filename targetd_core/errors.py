"""The errors a client can see.

Every failure that reaches a client is a :class:`TargetdError` carrying one of the codes
of the wire contract (``docs/contract.md``) and a message a person can act on. Messages must
never contain secrets.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Code(IntEnum):
    """Error codes of the wire contract."""

    UNEXPECTED = -1
    INVALID_ARGUMENT = -32602
    NAME_CONFLICT = -50
    FS_CLONE_EXISTS = -51
    INITIATOR_IN_USE = -52
    FS_OR_SNAPSHOT_EXISTS = -53
    VOLUME_NOT_FOUND = -103
    FS_NOT_FOUND = -104
    INVALID_POOL = -110
    SNAPSHOT_NOT_FOUND = -112
    EXPORT_NOT_FOUND = -151
    VOLUME_GROUP_NOT_FOUND = -152
    NOT_SUPPORTED = -153
    ACCESS_GROUP_NOT_FOUND = -200
    VOLUME_MASKED = -303
    NFS_EXPORT_NOT_FOUND = -400
    NFS_NOT_SUPPORTED = -401
    NO_FREE_LUN = -1000


class TargetdError(Exception):
    """An error answered to the client as a JSON-RPC error object."""

    def __init__(self, code: int | Code, message: str, data: Any = None) -> None:
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
