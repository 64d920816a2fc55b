"""Exceptions of the client.

Two families, because a caller reacts to them differently:

- :class:`TargetdError`: the daemon answered with a JSON-RPC error (the request reached
  targetd and was refused or failed); ``code`` is one of :class:`ErrorCode`.
- :class:`TransportError` and its subclasses: the request did not get a JSON-RPC answer
  (connection, TLS, HTTP status, malformed reply). :class:`AuthenticationError` (HTTP 401,
  and 503 while the daemon delays a failed login) is one of them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """The error codes of the targetd wire contract."""

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
    # JSON-RPC 2.0's own
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INTERNAL_ERROR = -32603


class ClientError(Exception):
    """Base class of every exception raised by this package."""


class TargetdError(ClientError):
    """A JSON-RPC error answered by targetd."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"error {code}: {message}")

    @property
    def name(self) -> str | None:
        """The symbolic name of the code (``"VOLUME_NOT_FOUND"``), None if not a known code."""
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"TargetdError({self.code}, {self.message!r}, {self.data!r})"


class TransportError(ClientError):
    """The request got no JSON-RPC answer: connection refused, timeout, TLS, HTTP error."""


class TLSError(TransportError):
    """The TLS handshake failed (typically: the server certificate is not trusted)."""


class HTTPStatusError(TransportError):
    """targetd answered with an HTTP status other than 200/204."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


class AuthenticationError(HTTPStatusError):
    """HTTP 401: wrong user or password (or none sent)."""


class LoginThrottledError(AuthenticationError):
    """HTTP 503: a failed login from this address is still being delayed; retry later."""


class RequestTooLargeError(HTTPStatusError):
    """HTTP 413: the request body is over the daemon's limit (128 KiB)."""


class ProtocolError(TransportError):
    """The answer is not a valid JSON-RPC 2.0 reply to the request."""
