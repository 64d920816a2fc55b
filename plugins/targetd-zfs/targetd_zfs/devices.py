"""Finding the block device of a zvol, with or without udev.

ZFS names zvol devices ``/dev/zdN`` (N = 16 x minor index); the friendly
``/dev/zvol/<dataset>`` links are made by udev rules (or, on the appliance, by a uevent
helper). Where the link exists it is used (stable across reboots, what LIO should
record). Otherwise the device is found by asking each ``/dev/zdN`` its dataset name with
the ``BLKZNAME`` ioctl (what ``zvol_id`` does). Device nodes appear asynchronously after
``zfs create``/``rename``, so the lookup waits a little.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

from targetd_core.plugin import Code, TargetdError

#: _IOR(0x12, 125, char[256]) from ZFS's include/sys/zvol.h (ZFS_MAX_DATASET_NAME_LEN).
BLKZNAME = (2 << 30) | (256 << 16) | (0x12 << 8) | 125

SYS_BLOCK = Path("/sys/block")
DEV = Path("/dev")


def link_path(dataset: str) -> Path:
    return DEV / "zvol" / dataset


def zvol_name(device: Path) -> str | None:
    """The dataset name of a zvol device node, or None if it is not one."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        buf = fcntl.ioctl(fd, BLKZNAME, bytes(256))
    except OSError:
        return None
    finally:
        os.close(fd)
    return buf.split(b"\0", 1)[0].decode(errors="replace")


def _is_block(path: Path) -> bool:
    try:
        return stat.S_ISBLK(path.stat().st_mode)
    except OSError:
        return False


def scan(dataset: str) -> Path | None:
    """The ``/dev/zdN`` node of ``dataset`` found through sysfs and BLKZNAME."""
    try:
        entries = sorted(p.name for p in SYS_BLOCK.iterdir())
    except OSError:
        return None
    for name in entries:
        if not (name.startswith("zd") and name[2:].isdigit()):
            continue
        node = DEV / name
        if _is_block(node) and zvol_name(node) == dataset:
            return node
    return None


def links_managed() -> bool:
    """True if something makes ``/dev/zvol`` links here (udev, a uevent helper, or
    links already exist), so a missing link is worth waiting for."""
    if Path("/run/udev/control").exists() or (DEV / "zvol").is_dir():
        return True
    try:
        return bool(Path("/proc/sys/kernel/hotplug").read_text().strip())
    except OSError:
        return False


def find_device(dataset: str, timeout: float = 20.0, link_grace: float = 3.0) -> str:
    """The device path of zvol ``dataset``: its ``/dev/zvol`` link if there is one,
    else its ``/dev/zdN`` node (once the link has had ``link_grace`` seconds to appear,
    where links are made at all). -1 if the zvol has no device after ``timeout``
    seconds (``volmode=none``?)."""
    link = link_path(dataset)
    if not links_managed():
        link_grace = 0.0
    deadline = time.monotonic() + timeout
    found_at: float | None = None
    delay = 0.05
    while True:
        if _is_block(link):
            return str(link)
        node = scan(dataset)
        now = time.monotonic()
        if node is not None:
            found_at = found_at if found_at is not None else now
            if now - found_at >= link_grace or now >= deadline:
                return str(node)
        elif now >= deadline:
            raise TargetdError(
                Code.UNEXPECTED,
                f"zvol {dataset!r} has no block device (neither {link} nor a /dev/zd* node "
                f"naming it appeared within {timeout:.0f} s; is its volmode 'none'?)",
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
