"""Host-tier fixtures for file system pools: real btrfs on loop files, temp exports files.

Import the fixtures you need into a test module (``from .fsfixtures import btrfs_pool``).
Everything is torn down even when a test fails: mounts are unmounted, loop devices
detached, NFS exports this process added are unexported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from targetd_core.params import bind
from targetd_core.plugins import build_core

NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="btrfs and exportfs need root")


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def require(*tools: str) -> None:
    """Skip (with the reason) when a tool the test needs is not installed."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (apt-get install btrfs-progs nfs-kernel-server)"
        )


@contextlib.contextmanager
def btrfs_loop(directory: Path, size: str = "1G", subvol: str | None = None) -> Iterator[Path]:
    """Make a btrfs on a sparse loop file and mount it at ``directory/mnt``.

    With ``subvol``, the top level gets a subvolume of that name and that subvolume is
    what is mounted (like a distribution's ``subvol=@data`` layout).
    """
    require("btrfs", "mkfs.btrfs", "losetup", "findmnt")
    img = directory / "btrfs.img"
    mnt = directory / "mnt"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(_bytes(size))
    loop = _sh("losetup", "--find", "--show", str(img)).stdout.strip()
    mounted: list[Path] = []
    try:
        _sh("mkfs.btrfs", "-q", "-f", loop)
        if subvol:
            top = directory / "top"
            top.mkdir()
            _sh("mount", loop, str(top))
            mounted.append(top)
            _sh("btrfs", "subvolume", "create", str(top / subvol))
            _sh("mount", "-o", f"subvol={subvol}", loop, str(mnt))
        else:
            _sh("mount", loop, str(mnt))
        mounted.insert(0, mnt)
        yield mnt
    finally:
        for m in mounted:
            if _sh("umount", str(m), check=False).returncode != 0:
                _sh("umount", "-l", str(m), check=False)
        _sh("losetup", "-d", loop, check=False)
        img.unlink(missing_ok=True)


def _bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if size[-1] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size)


@pytest.fixture()
def btrfs_pool(tmp_path: Path) -> Iterator[Path]:
    """A freshly made, mounted btrfs (1 GiB sparse): its mount point."""
    with btrfs_loop(tmp_path) as mnt:
        yield mnt


class InProcess:
    """A core built in-process, called the way the HTTP layer would call it."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.core, self.warnings = build_core(raw=raw, env={})

    def call(self, method: str, **params: Any) -> Any:
        m = self.core.methods[method]
        with self.core.lock.hold(m.changes_storage):
            return m.func(**bind(m.func, params))

    def error(self, method: str, **params: Any) -> Any:
        """The TargetdError the call raises (fails the test if it succeeds)."""
        from targetd_core.errors import TargetdError

        with pytest.raises(TargetdError) as info:
            self.call(method, **params)
        return info.value

    def rebuilt(self) -> InProcess:
        """A second core from the same configuration, started as the daemon starts
        (its plugins' ``targetd_serve`` hooks run): a daemon restart."""
        from targetd_core.plugins import serve_hooks

        again = InProcess(dict(self.raw))
        serve_hooks(again.core)
        return again


def make_core(tmp_path: Path, plugins: list[str], **config: Any) -> InProcess:
    raw = {"password": "x", "state_dir": str(tmp_path / "state"), "plugins": plugins}
    raw.update(config)
    return InProcess(raw)


def live_exports() -> str:
    """What ``exportfs -v`` shows now (the host's live export table)."""
    return _sh("exportfs", "-v").stdout


@pytest.fixture()
def exports_cleanup() -> Iterator[list[tuple[str, str]]]:
    """A list the test appends (host, path) to; each is unexported at teardown.

    Also checks the test left the host's real /etc/exports and /etc/exports.d alone.
    """
    before = _snapshot_etc()
    added: list[tuple[str, str]] = []
    yield added
    for host, path in added:
        h = f"[{host}]" if ":" in host and not host.startswith("[") else host
        _sh("exportfs", "-u", f"{h}:{path}", check=False)
    assert _snapshot_etc() == before, "the test changed /etc/exports or /etc/exports.d"


def _snapshot_etc() -> dict[str, bytes]:
    out = {}
    for p in [Path("/etc/exports"), *sorted(Path("/etc/exports.d").glob("*"))]:
        with contextlib.suppress(OSError):
            out[str(p)] = p.read_bytes()
    return out
