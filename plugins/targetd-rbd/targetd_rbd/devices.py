"""Kernel RBD devices: finding an image's mapping in sysfs, mapping and unmapping it.

The appliance's (and Debian's) kernel has ``rbd.ko``, so an exported image is a
``/dev/rbdN`` of kernel RBD: LIO and nvmet take it like any block device. Mapping goes
through ``rbd device map``, which reads the keyring and tells the kernel; finding a
mapping only reads ``/sys/bus/rbd/devices/N/{cluster_fsid,pool,pool_ns,name,snap_name}``
(no process start-up, which costs seconds in the guest).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from targetd_core.plugin import Code, TargetdError, run, safe_join

from .config import ClusterSpec

SYSFS = "/sys/bus/rbd/devices"
DEV_ID_RE = re.compile(r"[0-9]+")
DEVICE_RE = re.compile(r"/dev/rbd[0-9]+")
#: Seconds for ``rbd device map``/``unmap`` (a cluster handshake; 2-4 s in the guest).
MAP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Mapping:
    device: str
    fsid: str
    pool: str
    namespace: str
    image: str
    snap: str


def _read(d: str, attr: str) -> str:
    try:
        with open(os.path.join(d, attr)) as f:
            return f.read().strip()
    except OSError:
        return ""


def mappings(sysfs: str = SYSFS) -> list[Mapping]:
    """Every kernel RBD mapping of this host."""
    try:
        ids = [n for n in os.listdir(sysfs) if DEV_ID_RE.fullmatch(n)]
    except FileNotFoundError:
        return []  # rbd.ko not loaded: nothing mapped
    out = []
    for n in sorted(ids, key=int):
        d = safe_join(sysfs, n)
        out.append(
            Mapping(
                device=f"/dev/rbd{n}",
                fsid=_read(d, "cluster_fsid"),
                pool=_read(d, "pool"),
                namespace=_read(d, "pool_ns"),
                image=_read(d, "name"),
                snap=_read(d, "snap_name"),
            )
        )
    return out


def find(fsid: str, pool: str, namespace: str, image: str, sysfs: str = SYSFS) -> str | None:
    """The device of the image's (writable, head) mapping, or None."""
    for m in mappings(sysfs):
        if (m.fsid, m.pool, m.namespace, m.image) == (fsid, pool, namespace, image) and m.snap in (
            "-",
            "",
        ):
            return m.device
    return None


def _common(spec: ClusterSpec) -> list[str]:
    argv = ["--conf", spec.conf, "--id", spec.client]
    if spec.keyring:
        argv += ["--keyring", spec.keyring]
    return argv


def map_image(spec: ClusterSpec, pool: str, namespace: str, image: str) -> str:
    """Map the image with kernel RBD; its device path. ``noudev``: the device node comes
    from devtmpfs and ``rbd`` does not wait for udev (the appliance has none)."""
    argv = ["rbd", "device", "map", *_common(spec), "--options", "noudev", "--pool", pool]
    if namespace:
        argv += ["--namespace", namespace]
    out = run([*argv, "--image", image], timeout=MAP_TIMEOUT, label="rbd device map").stdout
    device = out.strip().splitlines()[-1] if out.strip() else ""
    if not DEVICE_RE.fullmatch(device):
        raise TargetdError(
            Code.UNEXPECTED, f"rbd device map printed {device!r}, not a /dev/rbdN device"
        )
    return device


def unmap_device(spec: ClusterSpec, device: str) -> None:
    if not DEVICE_RE.fullmatch(device):
        raise TargetdError(Code.UNEXPECTED, f"{device!r} is not a kernel RBD device")
    run(
        ["rbd", "device", "unmap", *_common(spec), "--options", "noudev", device],
        timeout=MAP_TIMEOUT,
        label="rbd device unmap",
    )
