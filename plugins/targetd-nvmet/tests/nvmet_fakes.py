"""Fakes for unit tests of the plugin's logic (never proof that nvmet works: see
tests/realkernel/test_nvmet.py for that).

:class:`FakeNvmet` is the real :class:`~targetd_nvmet.cfs.Nvmet` on a plain directory; the
few things configfs does by itself (attribute files and default groups appearing on mkdir,
going on rmdir) are done by hand in ``_do``. ``auth`` says whether host entries get the
``dhchap_*`` attributes (a kernel with CONFIG_NVME_TARGET_AUTH).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from targetd_nvmet.cfs import Nvmet, nvmet_error

from targetd_core.config import Config
from targetd_core.core import Core
from targetd_core.locking import StorageLock
from targetd_core.plugin import BlockPool, PoolInfo, Volume

ATTRS = {
    "hosts": ([], []),
    "subsystems": (["attr_allow_any_host", "attr_serial", "attr_model"],
                   ["allowed_hosts", "namespaces"]),
    "namespaces": (["device_path", "device_uuid", "device_nguid", "enable"], []),
    "ports": (["addr_trtype", "addr_adrfam", "addr_traddr", "addr_trsvcid"], ["subsystems"]),
}  # fmt: skip
AUTH = ["dhchap_key", "dhchap_ctrl_key", "dhchap_hash", "dhchap_dhgroup"]


class FakeNvmet(Nvmet):
    def __init__(self, root: Path, auth: bool = True) -> None:
        super().__init__(root)
        self.auth = auth
        for d in ("hosts", "subsystems", "ports"):
            (root / d).mkdir(parents=True, exist_ok=True)
        #: fail the n-th configfs change from now (0: the next one), with EBUSY
        self.fail_at: int | None = None
        self.changes = 0

    def _kind(self, path: str) -> str:
        parent = Path(path).parent
        if parent.name == "namespaces":
            return "namespaces"
        if parent == self.root / "hosts":
            return "hosts"
        if parent == self.root / "subsystems":
            return "subsystems"
        if parent == self.root / "ports":
            return "ports"
        return ""

    def _do(self, what, func, *args):  # noqa: ANN001, ANN202
        if self.fail_at is not None:
            if self.fail_at == 0:
                self.fail_at = None
                raise nvmet_error(what, OSError(16, "Device or resource busy"))
            self.fail_at -= 1
        self.changes += 1
        if func is os.mkdir:
            path = args[0]
            try:
                os.mkdir(path)
            except OSError as exc:
                raise nvmet_error(what, exc) from None
            files, dirs = ATTRS.get(self._kind(path), ([], []))
            if self._kind(path) == "hosts" and self.auth:
                files = AUTH
            for f in files:
                Path(path, f).write_text("")
            for d in dirs:
                os.mkdir(os.path.join(path, d))
            return
        if func is os.rmdir:
            path = args[0]
            files, dirs = ATTRS.get(self._kind(path), ([], []))
            for d in dirs:
                if os.listdir(os.path.join(path, d)):
                    raise nvmet_error(what, OSError(39, "Directory not empty"))
            for d in dirs:
                os.rmdir(os.path.join(path, d))
            for f in os.listdir(path):
                if os.path.isfile(os.path.join(path, f)):
                    os.unlink(os.path.join(path, f))
            try:
                os.rmdir(path)
            except OSError as exc:
                raise nvmet_error(what, exc) from None
            return
        super()._do(what, func, *args)

    def all_paths(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for n in dirnames + filenames:
                out.append(os.path.relpath(os.path.join(dirpath, n), self.root))
        return sorted(out)

    def snapshot(self) -> dict[str, str]:
        """Every path and what it holds (a file's text, a link's target)."""
        out = {}
        for p in self.all_paths():
            full = self.root / p
            if full.is_symlink():
                out[p] = "-> " + os.readlink(full)
            elif full.is_file():
                out[p] = full.read_text()
            else:
                out[p] = "/"
        return out


class FakePool(BlockPool):
    """Volumes are regular files standing in for block devices."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(name)
        self.dir = directory
        self.vols: dict[str, Volume] = {}

    def info(self) -> PoolInfo:
        return PoolInfo(self.name, 1 << 30, 1 << 29, "block", "pool-uuid")

    def list_volumes(self) -> list[Volume]:
        return list(self.vols.values())

    def get_volume(self, name: str) -> Volume | None:
        return self.vols.get(name)

    def create_volume(self, name: str, size: int) -> None:
        self.vols[name] = Volume(name, size, str(uuid.uuid4()))
        with open(self.device_path(name), "wb") as f:
            f.truncate(size)

    def destroy_volume(self, name: str) -> None:
        del self.vols[name]
        os.unlink(self.device_path(name))

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        raise NotImplementedError

    def resize_volume(self, name: str, size: int) -> None:
        raise NotImplementedError

    def device_path(self, name: str) -> str:
        return str(self.dir / f"{self.name.replace('/', '_')}-{name}")


def core_with_pools(
    tmp_path: Path, pool_names: list[str], volumes: tuple[str, ...]
) -> tuple[Core, list[FakePool]]:
    devs = tmp_path / "dev"
    devs.mkdir()
    pools = [FakePool(name, devs) for name in pool_names]
    core = Core(Config({}), StorageLock(tmp_path / "lock"), block_pools=pools)
    for p in pools:
        for v in volumes:
            p.create_volume(v, 1 << 20)
    return core, pools
