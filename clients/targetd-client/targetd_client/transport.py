"""One kept-alive HTTP(S) connection to the targetd endpoint, with HTTP Basic auth.

Maps every failure below JSON-RPC to an exception of :mod:`targetd_client.errors` with a
message a person can act on (and never the password).
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import time
import urllib.parse

from .errors import (
    AuthenticationError,
    HTTPStatusError,
    LoginThrottledError,
    RequestTooLargeError,
    TLSError,
    TransportError,
)

DEFAULT_PORT = 18700
DEFAULT_PATH = "/targetrpc"
# targetd (gunicorn) closes a kept-alive connection after 5 idle seconds: reconnect before
# that rather than race the server's close.
MAX_IDLE = 4.0
# The contract's request size limit. targetd answers a larger body with 413 without reading
# it, and for a body of some megabytes closes the connection while it is still being sent
# (the client then sees a broken pipe, not the 413): check before sending.
MAX_BODY = 131072


def normalise_url(url: str) -> str:
    """``host``, ``host:port``, ``https://host`` ... -> a full endpoint URL.

    No scheme means https; no port means 18700; no path means /targetrpc.
    """
    url = url.strip()
    if not url:
        raise ValueError("empty URL")
    if "://" not in url:
        url = "https://" + url
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {u.scheme!r} (use http or https)")
    if not u.hostname:
        raise ValueError(f"no host in URL {url!r}")
    if u.username or u.password:
        raise ValueError("put the user and password in the environment or config, not the URL")
    try:
        port = u.port or DEFAULT_PORT
    except ValueError as e:
        raise ValueError(f"bad port in URL {url!r}") from e
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    path = u.path if u.path not in ("", "/") else DEFAULT_PATH
    return f"{u.scheme}://{host}:{port}{path}"


def make_ssl_context(ca: str | None, insecure: bool) -> ssl.SSLContext:
    """Verify against ``ca`` (a PEM file or directory), else the system's trust store."""
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca is None:
        return ssl.create_default_context()
    try:
        if os.path.isdir(ca):
            return ssl.create_default_context(capath=ca)
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as e:
        raise TLSError(f"cannot load the CA certificate {ca!r}: {e}") from e


class Transport:
    """POST bodies to one endpoint over a reused connection. Not thread-safe."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        ca: str | None = None,
        insecure: bool = False,
        timeout: float = 300.0,
    ) -> None:
        self.url = normalise_url(url)
        u = urllib.parse.urlsplit(self.url)
        self.scheme = u.scheme
        self.host = u.hostname or ""
        self.port = u.port or DEFAULT_PORT
        self.path = u.path
        self.timeout = timeout
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._ssl = make_ssl_context(ca, insecure) if self.scheme == "https" else None
        self._ca = ca
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """The connection, and whether it was used before."""
        if self._conn is not None and time.monotonic() - self._last_used > MAX_IDLE:
            self.close()
        if self._conn is not None:
            return self._conn, True
        if self._ssl is not None:
            self._conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._ssl
            )
        else:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn, False

    def post(self, body: bytes) -> tuple[int, bytes]:
        """POST ``body``; returns (status, body) for 200/204, raises for anything else."""
        if len(body) > MAX_BODY:
            raise RequestTooLargeError(
                413,
                "not sent",
                f"request too large ({len(body)} bytes): targetd accepts at most 128 KiB",
            )
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # A kept-alive connection the server had already closed: the request was
                # not processed, so sending it once more on a fresh connection is safe.
                self.close()
                if reused and attempt == 0:
                    continue
                raise TransportError(f"connection to {self.where} lost: {e}") from e
            except ssl.SSLCertVerificationError as e:
                self.close()
                hint = (
                    f"is {self._ca!r} the CA that signed targetd's certificate?"
                    if self._ca
                    else "give the CA certificate with --ca or TARGETD_CA"
                )
                raise TLSError(
                    f"TLS: the certificate of {self.where} is not trusted "
                    f"({e.verify_message}); {hint}"
                ) from e
            except ssl.SSLError as e:
                self.close()
                raise TLSError(f"TLS with {self.where} failed: {e.reason or e}") from e
            except TimeoutError as e:
                self.close()
                raise TransportError(
                    f"no answer from {self.where} within {self.timeout:g} s"
                ) from e
            except (socket.gaierror, ConnectionRefusedError) as e:
                self.close()
                raise TransportError(f"cannot connect to {self.where}: {e.strerror or e}") from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransportError(f"HTTP request to {self.where} failed: {e}") from e
            self._last_used = time.monotonic()
            if resp.will_close:
                self.close()
            if resp.status in (200, 204):
                return resp.status, data
            raise _status_error(resp.status, resp.reason, data, self.url)
        raise AssertionError("unreachable")


def _status_error(status: int, reason: str, data: bytes, url: str) -> HTTPStatusError:
    text = data.decode("utf-8", "replace").strip()[:200]
    detail = f": {text}" if text else ""
    if status == 401:
        return AuthenticationError(
            status, reason, f"authentication failed (HTTP 401): wrong user or password for {url}"
        )
    if status == 503:
        return LoginThrottledError(
            status,
            reason,
            "the server is delaying a failed login from this address (HTTP 503); "
            "check the user and password, wait a few seconds and retry",
        )
    if status == 413:
        return RequestTooLargeError(
            status, reason, f"request too large (HTTP 413): targetd accepts at most 128 KiB{detail}"
        )
    if status == 404:
        return HTTPStatusError(
            status, reason, f"HTTP 404 for {url}: is the path right (targetd serves /targetrpc)?"
        )
    return HTTPStatusError(status, reason, f"HTTP {status} {reason} from {url}{detail}")
