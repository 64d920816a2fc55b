"""HTTP Basic authentication with a tarpit for wrong credentials.

A wrong user or password is answered 401 only after :data:`FAILURE_DELAY` seconds.
While that delay runs for a client address, every further request from that address
is answered 503 at once, whatever credentials it carries: otherwise a client could
try passwords in parallel and learn the right one without waiting. The "being delayed"
state is an exclusive ``flock`` on a file named after a hash of the address, so it
holds across threads and gunicorn workers alike.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

FAILURE_DELAY = 1.0
_BUCKETS_HEX = 4  # 65536 files at most, created lazily


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials: 401 with a challenge
    MALFORMED = "malformed"  # a broken Authorization header: 400
    WRONG = "wrong"  # wrong credentials: tarpit, then 401


def parse_basic(header: str | None) -> tuple[str, str] | None | Verdict:
    """The (user, password) of a Basic header, None if absent, MALFORMED if broken."""
    if header is None or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return Verdict.MALFORMED
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return Verdict.MALFORMED
    user, sep, password = decoded.partition(":")
    if not sep:
        return Verdict.MALFORMED
    return user, password


class Authenticator:
    def __init__(
        self, user: str, password: str, tarpit_dir: Path, delay: float = FAILURE_DELAY
    ) -> None:
        self._user = user.encode()
        self._password = password.encode()
        self.tarpit_dir = tarpit_dir
        self.delay = delay
        tarpit_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def check(self, header: str | None) -> tuple[Verdict, str]:
        """Judge an Authorization header: (verdict, the user it names)."""
        parsed = parse_basic(header)
        if parsed is None:
            return Verdict.MISSING, ""
        if isinstance(parsed, Verdict):
            return parsed, ""
        user, password = parsed
        # Both comparisons always run, in constant time.
        ok_user = hmac.compare_digest(user.encode(), self._user)
        ok_pass = hmac.compare_digest(password.encode(), self._password)
        return (Verdict.OK if ok_user & ok_pass else Verdict.WRONG), user

    def _path(self, address: str) -> Path:
        digest = hashlib.sha256(address.encode()).hexdigest()[:_BUCKETS_HEX]
        return self.tarpit_dir / digest

    def _open(self, address: str) -> int:
        return os.open(self._path(address), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def being_delayed(self, address: str) -> bool:
        """True while a failed attempt from ``address`` is being delayed."""
        try:  # no file: no failed login from this address was ever delayed (1 syscall)
            fd = os.open(self._path(address), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    @contextlib.contextmanager
    def tarpit(self, address: str) -> Iterator[bool]:
        """Delay a failed attempt. Yields False if another one from the address is
        already being delayed (answer 503 at once), else True after the delay."""
        fd = self._open(address)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            time.sleep(self.delay)
            yield True
        finally:
            os.close(fd)
