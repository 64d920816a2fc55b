"""Active thin LVs looked up in device-mapper's sysfs: no LVM tool, no metadata read.

``lvs`` of one LV reads and parses the whole volume group's metadata, so a look-up costs
more with every LV in the VG (it made ``export_create`` at 500 exports almost twice as
dear as at 10). An active LV is also a device-mapper device named ``VG-LV`` (dashes
doubled) whose sysfs directory says what ``export_create`` and the volume calls need:

- ``dm/uuid``: ``LVM-`` followed by the VG's and the LV's uuids (32 characters each,
  without dashes); LVM's internal layers carry a suffix (``-tpool``, ``-real``, ...);
- ``size``: the device's size in 512-byte sectors, which is the LV's size;
- ``slaves/``: the devices below it; a thin LV's include its pool's ``VG-POOL-tpool``.

The device node is found with ``lstat`` on ``/dev/mapper/NAME`` (never a symlink) and its
sysfs directory by device number, whose ``dm/name`` must be the name asked for. Anything
that is not exactly that (no node: the LV is inactive; another kind of device; a suffix)
answers None, and the caller asks LVM as before. Tags are not in device-mapper, so this
serves only thin pools, whose volumes targetd never hides behind a tag.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from targetd_core.paths import is_plain_component

from .names import dm_name

#: where the device nodes and the block devices' sysfs entries are (tests point these
#: at a directory of their own)
DEV_MAPPER = "/dev/mapper"
SYS_DEV_BLOCK = "/sys/dev/block"
SECTOR = 512

#: the uuid of an LV's own device (no suffix: not an internal layer)
_LV_DM_UUID = re.compile(r"LVM-[A-Za-z0-9]{32}([A-Za-z0-9]{32})")
#: the uuid of a thin pool's ``-tpool`` device
_TPOOL_DM_UUID = re.compile(r"LVM-[A-Za-z0-9]{64}-tpool")


@dataclass(frozen=True)
class ActiveLv:
    uuid: str  # LVM's own form, with dashes
    size: int  # bytes
    below: frozenset[tuple[str, str]]  # (dm name, dm uuid) of the dm devices below it


def lvm_uuid(raw: str) -> str:
    """LVM's dashed form of a 32-character uuid (6-4-4-4-4-4-6), as ``lvs`` prints it."""
    parts, at = [], 0
    for width in (6, 4, 4, 4, 4, 4, 6):
        parts.append(raw[at : at + width])
        at += width
    return "-".join(parts)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _dm_identity(sysdir: str) -> tuple[str, str] | None:
    name = _read(os.path.join(sysdir, "dm", "name"))
    uuid = _read(os.path.join(sysdir, "dm", "uuid"))
    return None if name is None or uuid is None else (name, uuid)


def active_lv(vg: str, lv: str) -> ActiveLv | None:
    """The active LV ``vg/lv`` as device-mapper sees it, or None (inactive, or not a
    plain LV device)."""
    name = dm_name(vg, lv)
    if not is_plain_component(name):
        return None
    try:
        st = os.lstat(os.path.join(DEV_MAPPER, name))
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    sysdir = os.path.join(SYS_DEV_BLOCK, f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
    identity = _dm_identity(sysdir)
    if identity is None or identity[0] != name:
        return None
    match = _LV_DM_UUID.fullmatch(identity[1])
    sectors = _read(os.path.join(sysdir, "size"))
    if match is None or sectors is None or not sectors.isdigit():
        return None
    try:
        slaves = os.listdir(os.path.join(sysdir, "slaves"))
    except OSError:
        return None
    below = set()
    for slave in slaves:
        ident = _dm_identity(os.path.join(sysdir, "slaves", slave))
        if ident is not None:
            below.add(ident)
    return ActiveLv(lvm_uuid(match.group(1)), int(sectors) * SECTOR, frozenset(below))


def is_in_thin_pool(found: ActiveLv, vg: str, pool: str) -> bool:
    """True if the active LV sits on thin pool ``vg/pool``'s ``-tpool`` device."""
    tpool = dm_name(vg, pool) + "-tpool"
    return any(n == tpool and _TPOOL_DM_UUID.fullmatch(u) for n, u in found.below)
