"""HTTP Basic authentication with a tarpit for wrong credentials.

A wrong user or password is answered 401 only after :data:`FAILURE_DELAY` seconds.
While that delay runs for a client address, every further request from that address
is answered 503 at once, whatever credentials it carries: otherwise a client could
try passwords in parallel and learn the right one without waiting.

The "being delayed" state is an exclusive ``flock`` on a file named after the exact
client address (an IPv6 client by its /64, which one host or one customer usually
holds whole), so it holds across threads and gunicorn workers alike, and two addresses
never share a slot. The file exists only while its delay runs (it is removed before
the lock is released), so the directory holds at most one file per request being
delayed: its size is bounded by the number of worker threads, not by the number of
addresses ever seen.

Checking for a slot file on every request would cost a failing ``open`` per call, so a
file beside the directory (its name plus :data:`DELAY_COUNT_SUFFIX`) counts the delays
running, mapped into every worker's memory: while it is zero (almost always) a request
is known not to be delayed without a system call.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import functools
import hmac
import ipaddress
import mmap
import os
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

FAILURE_DELAY = 1.0
#: IPv6 clients are keyed by this prefix: a host can pick any address of its /64.
IPV6_PREFIX = 64
#: the count of delays running is in the file named as the tarpit directory plus this
DELAY_COUNT_SUFFIX = ".delays"


@functools.lru_cache(maxsize=1024)
def tarpit_key(address: str) -> str:
    """The tarpit slot of a client address: a plain file name, one per IPv4 address and
    per IPv6 /64 (an IPv4-mapped IPv6 address counts as the IPv4 address). Anything
    that is not an IP address (a Unix socket peer) shares the slot ``local``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "local"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        return f"v4-{ip}"
    prefix = ip.packed[: IPV6_PREFIX // 8]
    return f"v6-{prefix.hex()}"


class _DelayCount:
    """How many failed logins are being delayed now, in every process that maps the file
    (gunicorn's workers, forked after the master opened it): an 8-byte counter in a
    shared memory map. Reading it is a memory read; changing it (only around a delay)
    takes an ``flock`` on the file, so two processes never lose each other's change.
    A worker killed during a delay leaves the count too high, which only sends later
    calls to the slot files to check: never too low, which would skip a delay."""

    def __init__(self, path: str) -> None:
        self._path = path
        fd = self._open()
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)  # MAP_SHARED: one count for every process
        finally:
            os.close(fd)  # the map stays valid
        self._count = memoryview(self._map).cast("q")

    def _open(self) -> int:
        return os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)

    def __int__(self) -> int:
        return int(self._count[0])

    def add(self, change: int) -> None:
        # A file opened for each change: an flock belongs to the open file, which forked
        # workers would share (and so not exclude each other) if it were opened once.
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._count[0] = max(0, self._count[0] + change)
        finally:
            os.close(fd)  # releases the lock

    def reset(self) -> None:
        self.add(-int(self))


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
        self._tarpit_dir = str(tarpit_dir)
        self.delay = delay
        # the last header that verified, as bytes, and its user: a client sends the same
        # header on every call, and decoding and comparing it costs more than the call
        self._verified: tuple[bytes, str] | None = None
        tarpit_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._delays = _DelayCount(self._tarpit_dir.rstrip("/") + DELAY_COUNT_SUFFIX)

    def check(self, header: str | None) -> tuple[Verdict, str]:
        """Judge an Authorization header: (verdict, the user it names)."""
        verified = self._verified
        if verified is not None and header is not None:
            raw = header.encode("utf-8", "surrogatepass")
            if hmac.compare_digest(raw, verified[0]):  # in constant time, as below
                return Verdict.OK, verified[1]
        parsed = parse_basic(header)
        if parsed is None:
            return Verdict.MISSING, ""
        if isinstance(parsed, Verdict):
            return parsed, ""
        user, password = parsed
        # Both comparisons always run, in constant time.
        ok_user = hmac.compare_digest(user.encode(), self._user)
        ok_pass = hmac.compare_digest(password.encode(), self._password)
        if ok_user & ok_pass and header is not None:
            self._verified = (header.encode("utf-8", "surrogatepass"), user)
            return Verdict.OK, user
        return Verdict.WRONG, user

    def _path(self, address: str) -> Path:
        return self.tarpit_dir / tarpit_key(address)

    def being_delayed(self, address: str) -> bool:
        """True while a failed attempt from ``address`` is being delayed."""
        if not int(self._delays):  # no delay runs anywhere: no slot file to look for
            return False
        try:
            path = os.path.join(self._tarpit_dir, tarpit_key(address))
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _claim(self, path: Path) -> int | None:
        """The locked slot file's descriptor, or None if its slot is taken."""
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            # The previous holder may have removed the file between our open and our
            # lock: then this lock guards nothing that others can see; start again.
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    @contextlib.contextmanager
    def tarpit(self, address: str) -> Iterator[bool]:
        """Delay a failed attempt. Yields False if another one from the address is
        already being delayed (answer 503 at once), else True after the delay."""
        path = self._path(address)
        # counted before the slot exists and after it is gone: whoever could see the
        # slot sees a count above zero
        self._delays.add(1)
        try:
            fd = self._claim(path)
            if fd is None:
                yield False
                return
            try:
                time.sleep(self.delay)
                yield True
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # while still locked: nobody can take a stale slot
                os.close(fd)
        finally:
            self._delays.add(-1)

    def clear(self) -> None:
        """Remove slot files left by a daemon that was killed during a delay, and zero
        its count of delays (at start-up, before the workers run)."""
        self._delays.reset()
        for entry in os.scandir(self.tarpit_dir):
            if entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
