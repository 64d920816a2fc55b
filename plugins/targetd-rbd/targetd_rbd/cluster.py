"""One connection to the Ceph cluster per process, through Ceph's own Python bindings.

The bindings (Debian's ``python3-rados`` and ``python3-rbd``) are used instead of the
``rbd`` command: measured in the appliance guest, one ``rbd`` run costs 3.6-5.8 s (process
start-up and cluster handshake under TCG), the same call through a connected binding
0.2-0.3 s (README). They are not on PyPI, so they are imported when the first pool
needs them, and a test can give :func:`set_bindings` fakes of its own.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

import structlog

from targetd_core.plugin import Code, TargetdError

from .config import ClusterSpec

log = structlog.get_logger("targetd.rbd")

#: Seconds a monitor or OSD operation (and the first connection) may take before librados
#: gives up: the bindings' counterpart of a tool's timeout.
OP_TIMEOUT = 30

_bindings: tuple[ModuleType, ModuleType] | None = None


def set_bindings(rados: ModuleType | None, rbd: ModuleType | None) -> None:
    """Use these modules as ``rados`` and ``rbd`` (tests), or None: import the real ones."""
    global _bindings
    _bindings = (rados, rbd) if rados is not None and rbd is not None else None


def bindings() -> tuple[ModuleType, ModuleType]:
    global _bindings
    if _bindings is None:
        try:
            _bindings = (importlib.import_module("rados"), importlib.import_module("rbd"))
        except ImportError as exc:
            raise TargetdError(
                Code.UNEXPECTED,
                f"Ceph's Python bindings are not installed ({exc}): install python3-rados "
                "and python3-rbd",
            ) from None
    return _bindings


T = TypeVar("T")


class Cluster:
    """A lazily made, per-process connection (gunicorn forks workers after start-up:
    a connection made before the fork must not be used in a child)."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self._conn: Any = None
        self._pid = 0
        self._fsid = ""
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        rados, _ = bindings()
        conf = {
            "rados_mon_op_timeout": str(OP_TIMEOUT),
            "rados_osd_op_timeout": str(OP_TIMEOUT),
            "client_mount_timeout": str(OP_TIMEOUT),
        }
        if self.spec.keyring:
            conf["keyring"] = self.spec.keyring
        conn = rados.Rados(conffile=self.spec.conf, rados_id=self.spec.client, conf=conf)
        try:
            conn.connect(timeout=OP_TIMEOUT)
        except rados.Error as exc:
            conn.shutdown()
            raise TargetdError(
                Code.UNEXPECTED,
                f"cannot connect to the Ceph cluster of {self.spec.conf} as "
                f"client.{self.spec.client}: {exc}",
            ) from None
        return conn

    def connection(self) -> Any:
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                self._conn = self._connect()
                self._pid = os.getpid()
                self._fsid = str(self._conn.get_fsid())
            return self._conn

    def fsid(self) -> str:
        self.connection()
        return self._fsid

    def drop(self) -> None:
        """Forget the connection (after an error that may have broken it)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.shutdown()
            except Exception:  # noqa: BLE001 - already broken
                pass

    @contextmanager
    def ioctx(self, pool: str, namespace: str) -> Iterator[Any]:
        rados, _ = bindings()
        conn = self.connection()
        try:
            io = conn.open_ioctx(pool)
        except rados.ObjectNotFound:
            raise TargetdError(
                Code.VOLUME_GROUP_NOT_FOUND, f"the Ceph pool {pool!r} does not exist"
            ) from None
        except rados.Error as exc:
            self.drop()
            raise TargetdError(Code.UNEXPECTED, f"cannot open Ceph pool {pool!r}: {exc}") from None
        try:
            if namespace:
                io.set_namespace(namespace)
            yield io
        finally:
            io.close()

    def mon_json(self, command: dict[str, Any]) -> Any:
        """A monitor (or manager) command's JSON answer."""
        ret, out, err = self.connection().mon_command(
            json.dumps({**command, "format": "json"}), b"", timeout=OP_TIMEOUT
        )
        if ret != 0:
            raise TargetdError(
                Code.UNEXPECTED, f"Ceph command {command['prefix']!r} failed: {err or ret}"
            )
        return json.loads(out)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` and turn the bindings' errors into TargetdErrors a person can act on."""
        rados, rbd = bindings()
        try:
            return fn()
        except rbd.ImageNotFound:
            raise TargetdError(Code.VOLUME_NOT_FOUND, f"{what}: no such RBD image") from None
        except rbd.ImageExists:
            raise TargetdError(
                Code.NAME_CONFLICT, f"{what}: an RBD image of that name exists"
            ) from None
        except rbd.ImageBusy:
            raise TargetdError(
                Code.VOLUME_MASKED,
                f"{what}: the RBD image is in use (mapped or open, possibly by another "
                "gateway of this cluster); remove its exports there first",
            ) from None
        except rbd.ImageHasSnapshots:
            raise TargetdError(
                Code.UNEXPECTED,
                f"{what}: the RBD image has snapshots that targetd did not make; remove them "
                "with 'rbd snap purge'",
            ) from None
        except (rbd.Error, rados.Error) as exc:
            if isinstance(exc, rados.TimedOut):
                self.drop()
            raise TargetdError(Code.UNEXPECTED, f"{what}: {exc}") from None
