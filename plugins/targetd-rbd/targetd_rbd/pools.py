"""RBD block pools: the images of a Ceph pool (or of one RADOS namespace in it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from targetd_core.plugin import BlockPool, Code, ConfigError, PoolInfo, TargetdError, Volume

from . import coordination, devices
from .cluster import Cluster, bindings
from .config import POOLS_KEY, PoolSpec

log = structlog.get_logger("targetd.rbd")

#: New and grown images are rounded up to whole 512-byte sectors (a block device's size).
SECTOR = 512


def _round_up(size: int, unit: int = SECTOR) -> int:
    return -(-size // unit) * unit


class RbdPool(BlockPool):
    """Volumes are RBD images (format 2, the cluster's default features). An image has a
    block device only while it is attached (kernel RBD mapping): export handlers call
    :meth:`attach` before their first export of it and :meth:`detach` after their last.

    Several gateways (targetd hosts) may serve the same pool: each records its exports of
    an image in the image's metadata and takes the image's change lock in the cluster
    around changes (:mod:`.coordination`)."""

    reports_name_conflicts = True

    def __init__(
        self, spec: PoolSpec, cluster: Cluster, gateway: str, sysfs: str = devices.SYSFS
    ) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.cluster = cluster
        self.gateway = gateway
        self.sysfs = sysfs

    def _where(self, image: str | None = None) -> str:
        ns = f"/{self.spec.namespace}" if self.spec.namespace else ""
        return f"RBD {self.spec.pool}{ns}" + (f"/{image}" if image else "")

    def _io(self) -> Any:
        return self.cluster.ioctx(self.spec.pool, self.spec.namespace)

    @contextmanager
    def _changing(self, name: str, what: str) -> Iterator[tuple[Any, coordination.ChangeLock]]:
        """An ioctx of the pool, with the image's cluster-wide change lock held."""
        with self._io() as io:
            lock = coordination.ChangeLock(
                bindings()[0], io, name, self.gateway, what, self._where(name)
            )
            with lock:
                yield io, lock

    def check(self) -> None:
        try:
            with self._io() as io:
                self.cluster.call(self._where(), lambda: self._rbd().list(io))
        except TargetdError as exc:
            raise ConfigError(POOLS_KEY, f"{self.spec.name}: {exc.message}") from None

    @staticmethod
    def _rbd() -> Any:
        return bindings()[1].RBD()

    def info(self) -> PoolInfo:
        conn = self.cluster.connection()
        pool_id = self.cluster.call(self._where(), lambda: conn.pool_lookup(self.spec.pool))
        if pool_id is None:
            raise TargetdError(
                Code.VOLUME_GROUP_NOT_FOUND, f"the Ceph pool {self.spec.pool!r} does not exist"
            )
        uuid = f"{self.cluster.fsid()}:{pool_id}"
        if self.spec.namespace:
            uuid += f":{self.spec.namespace}"
        df = self.cluster.mon_json({"prefix": "df"})
        for p in df.get("pools", []):
            if p.get("id") == pool_id:
                stats = p.get("stats", {})
                free = int(stats.get("max_avail", 0))
                used = int(stats.get("stored", stats.get("bytes_used", 0)))
                return PoolInfo(self.name, used + free, free, "block", uuid)
        # the manager has not reported the pool's usage yet (a new pool, a manager that
        # just started): the pool is there, its sizes are not known
        log.info("no usage reported for the Ceph pool yet", pool=self.spec.pool)
        return PoolInfo(self.name, 0, 0, "block", uuid)

    def _volume(self, io: Any, name: str) -> Volume:
        rbd = self._rbd_module()
        with rbd.Image(io, name, read_only=True) as img:
            return Volume(name=name, size=int(img.size()), uuid=str(img.id()))

    @staticmethod
    def _rbd_module() -> Any:
        return bindings()[1]

    def list_volumes(self) -> list[Volume]:
        out = []
        with self._io() as io:
            names = self.cluster.call(self._where(), lambda: self._rbd().list(io))
            for name in sorted(names):
                try:
                    out.append(
                        self.cluster.call(self._where(name), lambda n=name: self._volume(io, n))
                    )
                except TargetdError as exc:  # removed since the listing: not a volume now
                    if exc.code != Code.VOLUME_NOT_FOUND:
                        raise
        return out

    def get_volume(self, name: str) -> Volume | None:
        with self._io() as io:
            try:
                return self.cluster.call(self._where(name), lambda: self._volume(io, name))
            except TargetdError as exc:
                if exc.code == Code.VOLUME_NOT_FOUND:
                    return None
                raise

    def create_volume(self, name: str, size: int) -> None:
        if size <= 0:
            raise TargetdError(Code.INVALID_ARGUMENT, "size must be larger than 0 bytes")
        with self._changing(name, "create") as (io, _):
            self.cluster.call(
                self._where(name),
                lambda: self._rbd().create(io, name, _round_up(size), old_format=False),
            )

    def destroy_volume(self, name: str) -> None:
        with self._changing(name, "destroy") as (io, lock):
            # the core has checked that no export handler of this gateway exports it; a
            # mapping left here (a crash between unexport and unmap) would keep a watcher,
            # and a record of ours would be stale: both go first. The records are read
            # once, for ours and for the other gateways'.
            self._unmap(name)
            others = self.cluster.call(self._where(name), lambda: self._exporters(io, name))
            if others.pop(self.gateway, None) is not None:
                self.cluster.call(self._where(name), lambda: self._write_record(io, name, False))
            if others:
                raise TargetdError(
                    Code.VOLUME_MASKED,
                    f"{self._where(name)} is exported by the targetd gateway(s) "
                    f"{coordination.describe(others)}; remove the exports there first (a "
                    "record of a gateway that is gone for good is removed with 'rbd "
                    f"image-meta remove {self._spec_of(name)} "
                    f"{coordination.export_key(sorted(others)[0])}')",
                )
            self.cluster.call(self._where(name), lambda: self._rbd().remove(io, name))
            lock.drop_object = True

    def _spec_of(self, name: str) -> str:
        ns = f"{self.spec.namespace}/" if self.spec.namespace else ""
        return f"{self.spec.pool}/{ns}{name}"

    def _exporters(self, io: Any, name: str) -> dict[str, dict[str, Any]]:
        with self._rbd_module().Image(io, name, read_only=True) as img:
            return coordination.exporters(img)

    def resize_volume(self, name: str, size: int) -> None:
        rbd = self._rbd_module()

        def grow(io: Any) -> None:
            with rbd.Image(io, name) as img:
                img.resize(_round_up(size), allow_shrink=False)

        with self._changing(name, "resize") as (io, _):
            self.cluster.call(self._where(name), lambda: grow(io))

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        """A deep copy (``rbd deep cp``): independent of its origin at once, and measured
        faster in the guest than clone + flatten (README)."""
        rbd = self._rbd_module()

        def copy(io: Any) -> None:
            with rbd.Image(io, src, read_only=True) as img:
                img.deep_copy(io, dst)
            if size is not None:
                with rbd.Image(io, dst) as img:
                    if size > img.size():
                        img.resize(_round_up(size), allow_shrink=False)

        with self._changing(dst, "copy") as (io, _):
            try:
                self.cluster.call(self._where(src), lambda: copy(io))
            except TargetdError as exc:
                if exc.code != Code.NAME_CONFLICT:  # not ours to remove
                    self._remove_quietly(io, dst)
                raise

    def _remove_quietly(self, io: Any, name: str) -> None:
        try:
            self._rbd().remove(io, name)
        except Exception as exc:  # noqa: BLE001 - the copy's own error is what matters
            if type(exc).__name__ != "ImageNotFound":
                log.warning("could not remove a half-made copy", image=self._where(name))

    # -- devices ---------------------------------------------------------------------------
    def _find(self, name: str) -> str | None:
        return devices.find(
            self.cluster.fsid(), self.spec.pool, self.spec.namespace, name, self.sysfs
        )

    def device_path(self, name: str) -> str:
        device = self._find(name)
        if device is None:
            raise TargetdError(
                Code.UNEXPECTED,
                f"{self._where(name)} has no block device on this host (it is mapped when "
                "it is exported)",
            )
        return device

    def _write_record(self, io: Any, name: str, present: bool) -> None:
        """Set (``present``) or remove this gateway's export record: a writable open of
        the image (call through ``self.cluster.call``)."""
        with self._rbd_module().Image(io, name) as img:
            if present:
                coordination.record_export(img, self.gateway)
            else:
                coordination.forget_export(img, self.gateway)

    def _record(self, io: Any, name: str, present: bool) -> None:
        """Set (``present``) or remove this gateway's export record on the image."""

        def change() -> None:
            # most often there is none to remove: no writable open (it costs) then
            if not present and self.gateway not in self._exporters(io, name):
                return
            self._write_record(io, name, present)

        self.cluster.call(self._where(name), change)

    def attach(self, name: str) -> str:
        """Record this gateway's export in the image's metadata, then map it; the record
        is taken back if the mapping fails."""
        device = self._find(name)
        if device is not None:
            return device
        with self._changing(name, "export") as (io, _):
            self._record(io, name, True)
            try:
                device = devices.map_image(
                    self.cluster.spec, self.spec.pool, self.spec.namespace, name
                )
            except BaseException:
                self._forget_quietly(io, name)
                raise
        log.info("RBD image mapped", image=self._where(name), device=device)
        return device

    def _forget_quietly(self, io: Any, name: str) -> None:
        try:
            self._record(io, name, False)
        except TargetdError as exc:  # the attach's own error is what matters
            if exc.code != Code.VOLUME_NOT_FOUND:
                log.warning(
                    "could not remove an export record", image=self._where(name), error=exc.message
                )

    def detach(self, name: str) -> None:
        """Unmap (refused by the kernel while another export has the device open: the
        record then stays too), then remove this gateway's export record."""
        self._unmap(name)
        with self._io() as io:
            try:
                self._record(io, name, False)
            except TargetdError as exc:
                if exc.code != Code.VOLUME_NOT_FOUND:
                    raise

    def _unmap(self, name: str) -> None:
        """Unmap the image's device on this host, if it has one."""
        device = self._find(name)
        if device is not None:
            devices.unmap_device(self.cluster.spec, device)
            log.info("RBD image unmapped", image=self._where(name), device=device)
