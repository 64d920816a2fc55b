"""Fakes for unit tests of the plugin's logic (never proof that LIO works: see
tests/realkernel/test_lio.py for that).

:class:`FakeConfigfs` is the real :class:`~targetd_lio.cfs.Configfs` on a plain directory,
with the few things the kernel does by itself (attribute files appearing on mkdir, "NULL"
clearing a tag) done by hand.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from targetd_lio.cfs import Configfs
from targetd_lio.naming import hba_candidates

from targetd_core.config import Config
from targetd_core.core import Core
from targetd_core.locking import StorageLock
from targetd_core.plugin import BlockPool, PoolInfo, Volume


class FakeConfigfs(Configfs):
    """Every path is built through the real class' checked helpers (acl_dir, so_dir, ...)."""

    fail_on: str | None = None  # name of a method that raises OSError once
    fail_errno: int = errno.EBUSY  # the error it raises

    def _maybe_fail(self, what: str) -> None:
        if self.fail_on == what:
            self.fail_on = None
            from targetd_lio.cfs import lio_error

            raise lio_error(what, OSError(self.fail_errno, os.strerror(self.fail_errno)))

    def create_backstore(
        self, name: str, device: str, serial: str, at_hba: str | None = None
    ) -> str:
        self._maybe_fail("create_backstore")
        self.core.mkdir(parents=True, exist_ok=True)
        hba = at_hba or next(h for h in hba_candidates(name) if not self.hba_dir(h).exists())
        path = self.so_dir(hba, name)
        (path / "wwn").mkdir(parents=True)
        (path / "udev_path").write_text(device)
        (path / "wwn" / "vpd_unit_serial").write_text(f"T10 VPD Unit Serial Number: {serial}\n")
        return hba

    def delete_backstore(self, hba: str, name: str, quiet: bool = False) -> None:
        path = self.so_dir(hba, name)
        if path.exists():
            for f in ("udev_path", "wwn/vpd_unit_serial"):
                (path / f).unlink(missing_ok=True)
            (path / "wwn").rmdir()
            path.rmdir()
        if self.hba_dir(hba).exists():
            self.hba_dir(hba).rmdir()

    def backstores(self) -> list[str]:
        """Names of all storage objects."""
        if not self.core.exists():
            return []
        return sorted(p.name for h in self.core.iterdir() for p in h.iterdir())

    def create_lun(self, number: int, hba: str, name: str, exist_ok: bool = True) -> None:
        self._maybe_fail("create_lun")
        (self.tpg / "lun").mkdir(parents=True, exist_ok=True)
        super().create_lun(number, hba, name, exist_ok)
        self._fresh_inode(self.lun_dir(number))

    def _fresh_inode(self, path: Path) -> None:
        """Give a new directory an inode number no earlier one had, as configfs does
        (``get_next_ino``); a disk file system reuses a freed number at once. A directory
        with a used number is moved out of the tree (so it keeps it) and made again."""
        used = self.__dict__.setdefault("_used_inodes", set())
        while path.stat().st_ino in used:
            links = {e.name: os.readlink(e.path) for e in os.scandir(path) if e.is_symlink()}
            graveyard = self.root.parent / "inode-graveyard"
            graveyard.mkdir(exist_ok=True)
            path.rename(graveyard / uuid.uuid4().hex)
            path.mkdir()
            for link_name, target in links.items():
                os.symlink(target, path / link_name)
        used.add(path.stat().st_ino)

    def lun_in_use(self, number: int) -> bool:
        """What the kernel answers (a plain directory has no link count): whether an
        ACL's mapped LUN links to TPG LUN ``number``."""
        self.lun_probes = getattr(self, "lun_probes", 0) + 1
        view = Configfs.read(self, tags=False, luns=False)
        return any(t == number for acl in view.acls.values() for t in acl.mapped.values())

    def create_acl(self, wwn: str) -> None:
        self._maybe_fail("create_acl")
        acl = self.acl_dir(wwn)
        acl.mkdir(parents=True)
        (acl / "tag").write_text("")
        (acl / "auth").mkdir()
        (acl / "attrib").mkdir()
        for f in ("userid", "password", "userid_mutual", "password_mutual"):
            (acl / "auth" / f).write_text("NULL")
        (acl / "attrib" / "authentication").write_text("-1")

    def delete_acl(self, wwn: str, quiet: bool = False) -> None:
        if not quiet:
            self._maybe_fail("delete_acl")
        acl = self.acl_dir(wwn)
        for m in self.acl_mapped(wwn):
            self.delete_mapped_lun(wwn, m, quiet=quiet)
        if acl.exists():
            for f in (
                "tag",
                "auth/userid",
                "auth/password",
                "auth/userid_mutual",
                "auth/password_mutual",
                "attrib/authentication",
            ):
                (acl / f).unlink(missing_ok=True)
            (acl / "auth").rmdir()
            (acl / "attrib").rmdir()
            acl.rmdir()

    def set_tag(self, wwn: str, tag: str | None) -> None:
        (self.acl_dir(wwn) / "tag").write_text("" if tag in (None, "NULL") else tag)

    def create_mapped_lun(self, wwn: str, mapped: int, tpg_lun: int) -> None:
        self._maybe_fail("create_mapped_lun")
        super().create_mapped_lun(wwn, mapped, tpg_lun)

    def auth_of(self, wwn: str) -> dict[str, str]:
        acl = self.acl_dir(wwn)
        out = {
            f: (acl / "auth" / f).read_text()
            for f in ("userid", "password", "userid_mutual", "password_mutual")
        }
        out["authentication"] = (acl / "attrib" / "authentication").read_text()
        return out

    def snapshot(self) -> dict[str, str | None]:
        """Every path with its content: a file's text, a symlink's target (None for a
        directory), to compare the whole tree before and after a call."""
        out: dict[str, str | None] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for n in dirnames + filenames:
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, self.root)
                if os.path.islink(path):
                    out[rel] = "-> " + os.readlink(path)
                elif os.path.isdir(path):
                    out[rel] = None
                else:
                    out[rel] = Path(path).read_text()
        return out

    def all_paths(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for n in dirnames + filenames:
                out.append(os.path.relpath(os.path.join(dirpath, n), self.root))
        return sorted(out)


class FakePool(BlockPool):
    """Volumes are regular files standing in for block devices."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(name)
        self.dir = directory
        self.vols: dict[str, Volume] = {}
        self.list_calls = 0
        self.get_calls = 0

    def info(self) -> PoolInfo:
        return PoolInfo(self.name, 1 << 30, 1 << 29, "block", "pool-uuid")

    def list_volumes(self) -> list[Volume]:
        self.list_calls += 1
        return list(self.vols.values())

    def get_volume(self, name: str) -> Volume | None:
        self.get_calls += 1
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
    """A core whose block pools are FakePools (devices under ``tmp_path/dev``), each
    holding ``volumes`` of 1 MiB."""
    devs = tmp_path / "dev"
    devs.mkdir()
    pools = [FakePool(name, devs) for name in pool_names]
    core = Core(Config({}), StorageLock(tmp_path / "lock"), block_pools=pools)
    for p in pools:
        for v in volumes:
            p.create_volume(v, 1 << 20)
    return core, pools
