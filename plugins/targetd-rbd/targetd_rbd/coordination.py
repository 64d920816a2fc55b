"""What the gateways of one cluster share, kept in the cluster itself (no local file):

- **export records**: RBD image metadata ``targetd.export.<gateway id>`` on an image, set
  when a gateway makes its first export of the image and removed after its last. Any
  gateway's ``vol_destroy`` reads them, so an image exported elsewhere is refused even
  when that gateway's mapping (and with it Ceph's watcher) is down.
- **change locks**: an exclusive RADOS object lock on ``targetd.lock.<image>`` in the
  image's pool and namespace, held while a gateway creates, grows, copies into, destroys
  or first exports the image. It has a duration, so a crashed gateway's lock expires; a
  live holder renews it in a thread while its change runs.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from typing import Any

import structlog

from targetd_core.plugin import Code, TargetdError

log = structlog.get_logger("targetd.rbd")

EXPORT_PREFIX = "targetd.export."
LOCK_PREFIX = "targetd.lock."
LOCK_NAME = "targetd"
#: Seconds a change lock lives without renewal: how long a crashed gateway's lock blocks
#: changes of its image. A live holder renews it every LOCK_SECONDS / 3.
LOCK_SECONDS = 30
#: ``LIBRADOS_LOCK_FLAG_MAY_RENEW`` (called ``..._RENEW`` before Octopus): take the lock
#: again with the same cookie to push its expiry out.
LOCK_FLAG_RENEW = 1


def export_key(gateway: str) -> str:
    return EXPORT_PREFIX + gateway


def exporters(img: Any) -> dict[str, dict[str, Any]]:
    """Gateway id -> its record, for every gateway that records an export of the image."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in img.metadata_list():
        if key.startswith(EXPORT_PREFIX) and len(key) > len(EXPORT_PREFIX):
            try:
                record = json.loads(value)
            except ValueError:
                record = {}
            out[key[len(EXPORT_PREFIX) :]] = record if isinstance(record, dict) else {}
    return out


def record_export(img: Any, gateway: str) -> None:
    value = {"host": socket.gethostname(), "since": int(time.time())}
    img.metadata_set(export_key(gateway), json.dumps(value, sort_keys=True))


def forget_export(img: Any, gateway: str) -> bool:
    """Remove the gateway's record; False if there was none."""
    try:
        img.metadata_remove(export_key(gateway))
    except KeyError:
        return False
    return True


def describe(records: dict[str, dict[str, Any]]) -> str:
    parts = []
    for gateway, record in sorted(records.items()):
        host = record.get("host")
        parts.append(f"{gateway} (host {host})" if host and host != gateway else gateway)
    return ", ".join(parts)


class ChangeLock:
    """``with ChangeLock(...)``: hold the image's change lock, or raise a TargetdError (-1)
    at once if another gateway (or a worker of this one) holds it: the caller holds the
    storage lock, so nothing waits here."""

    def __init__(
        self,
        rados: Any,
        io: Any,
        image: str,
        gateway: str,
        what: str,
        where: str,
        seconds: int = LOCK_SECONDS,
    ) -> None:
        self.rados, self.io, self.image = rados, io, image
        self.obj = LOCK_PREFIX + image
        self.cookie = f"{gateway}.{os.getpid()}.{secrets.token_hex(6)}"
        self.desc = f"targetd gateway {gateway}: {what}"
        self.where = where
        self.seconds = seconds
        #: set by the caller once the image is gone: the lock object is removed with
        #: the lock (otherwise one empty object per image name ever used would stay)
        self.drop_object = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _lock(self, flags: int = 0) -> None:
        self.io.lock_exclusive(
            self.obj, LOCK_NAME, self.cookie, desc=self.desc, duration=self.seconds, flags=flags
        )

    def __enter__(self) -> ChangeLock:
        try:
            self._lock()
        except self.rados.ObjectBusy:
            raise TargetdError(
                Code.UNEXPECTED,
                f"{self.where}: another targetd gateway is changing this image now (RADOS "
                f"lock {LOCK_NAME!r} on object {self.obj!r}); try again. A lock left by a "
                f"gateway that stopped expires within {self.seconds} s",
            ) from None
        except self.rados.Error as exc:
            raise TargetdError(
                Code.UNEXPECTED, f"{self.where}: cannot take the change lock {self.obj!r}: {exc}"
            ) from None
        self._renewer = threading.Thread(target=self._renew, name="rbd-lock-renew", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self._lock(LOCK_FLAG_RENEW)
            except Exception as exc:  # noqa: BLE001 - logged; the change itself goes on
                log.warning("could not renew an RBD change lock", object=self.obj, error=str(exc))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            if self.drop_object:
                self.io.remove_object(self.obj)  # the lock goes with its object
            else:
                self.io.unlock(self.obj, LOCK_NAME, self.cookie)
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            log.warning(
                "could not release an RBD change lock (it expires by itself)",
                object=self.obj,
                error=str(exc),
            )
