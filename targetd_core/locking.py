"""The storage lock: serialises calls that change storage, across gunicorn workers.

A reader-writer lock on a file (``flock``): listing calls take it shared and may run
side by side, changing calls take it exclusive. Each acquisition opens the file anew,
so the lock also works between threads of one worker (flock locks belong to the open
file description). A plugin that must do long work inside a changing call, once the
storage is in a state other calls can safely see (a block copy into a new volume, say),
may step out of the lock with :meth:`StorageLock.released`. Released files are kept
open (unlocked) for the next acquisition, so a call costs two ``flock`` calls, not an
``open`` and a ``close`` as well; a forked child drops its parent's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

_SPARE_FDS = 64  # open files of the lock kept for reuse, per process


class StorageLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._held = threading.local()
        self._spare: list[int] = []  # unlocked open files of the lock, reused
        ref = weakref.ref(self)

        def forget_in_child() -> None:
            lock = ref()
            if lock is not None:
                lock._forget_spares()

        os.register_at_fork(after_in_child=forget_in_child)

    def _acquire(self, exclusive: bool) -> int:
        try:
            fd = self._spare.pop()  # an open file nobody holds: no open() per call
        except IndexError:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _release(self, fd: int) -> None:
        if len(self._spare) >= _SPARE_FDS:
            os.close(fd)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            os.close(fd)
            return
        self._spare.append(fd)

    def _forget_spares(self) -> None:
        """In a forked child: the parent's open files must not be shared (a flock
        belongs to the open file, so parent and child would hold it together)."""
        spare, self._spare = self._spare, []
        for fd in spare:
            with contextlib.suppress(OSError):
                os.close(fd)

    @contextlib.contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        """Hold the lock (re-entrant within a thread: an inner hold is a no-op)."""
        if getattr(self._held, "fd", None) is not None:
            yield
            return
        fd = self._acquire(exclusive)
        self._held.fd, self._held.exclusive = fd, exclusive
        try:
            yield
        finally:
            fd, self._held.fd = self._held.fd, None
            if fd is not None:
                self._release(fd)

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Step out of the lock this thread holds, and take it again afterwards."""
        fd = getattr(self._held, "fd", None)
        if fd is None:
            yield
            return
        exclusive = self._held.exclusive
        self._held.fd = None
        self._release(fd)
        try:
            yield
        finally:
            self._held.fd = self._acquire(exclusive)
            self._held.exclusive = exclusive
