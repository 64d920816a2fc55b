"""Helpers for the LVM tests of the real-kernel tier: what LVM and the block devices in
the guest really say, independent of targetd."""

from __future__ import annotations

import json
import uuid

from tests.realkernel.client import RPCClient

THIN = "vg-targetd/thin_pool"
THICK = "vg-targetd-thick"
POOLS = (THIN, THICK)
MiB = 1 << 20


def vg_of(pool: str) -> str:
    return pool.split("/")[0]


def unique(prefix: str = "tl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def guest_lvs(guest_exec, vg: str) -> dict[str, dict]:
    """The LVs of ``vg`` as LVM reports them in the guest, by name."""
    out = guest_exec(
        ["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
         "lv_name,lv_uuid,lv_size,lv_path,pool_lv,lv_tags,lv_attr", vg]
    ).stdout  # fmt: skip
    return {lv["lv_name"]: lv for lv in json.loads(out)["report"][0]["lv"]}


def device(guest_exec, pool: str, name: str) -> str:
    """The volume's block device, from lvs."""
    path = guest_lvs(guest_exec, vg_of(pool))[name]["lv_path"]
    assert path, f"{pool}/{name} has no device path (inactive?)"
    return path


def write_random(guest_exec, dev: str, offset_mib: int, count_mib: int) -> str:
    """Write random MiBs at an offset, through the block device, bypassing the page
    cache; return their sha256."""
    tmp = f"/tmp/{uuid.uuid4().hex}"
    guest_exec(
        f"dd if=/dev/urandom of={tmp} bs=1M count={count_mib} status=none && "
        f"dd if={tmp} of={dev} bs=1M seek={offset_mib} oflag=direct conv=fsync,notrunc "
        f"status=none"
    )
    digest = guest_exec(f"sha256sum {tmp} | cut -d' ' -f1; rm -f {tmp}").stdout.decode().strip()
    return digest


def read_digest(guest_exec, dev: str, offset_mib: int, count_mib: int) -> str:
    """sha256 of MiBs read back from the block device (direct I/O)."""
    cp = guest_exec(
        f"dd if={dev} bs=1M skip={offset_mib} count={count_mib} iflag=direct status=none "
        f"| sha256sum | cut -d' ' -f1"
    )
    return cp.stdout.decode().strip()


def is_zero(guest_exec, dev: str, offset_mib: int, count_mib: int) -> bool:
    cp = guest_exec(
        f"dd if={dev} bs=1M skip={offset_mib} count={count_mib} iflag=direct status=none "
        f"| cmp -s -n {count_mib * MiB} - /dev/zero",
        check=False,
    )
    return cp.returncode == 0


def new_client(env: dict[str, str]) -> RPCClient:
    return RPCClient(env["TARGETD_URL"], env["TARGETD_USER"], env["TARGETD_PASSWORD"],
                     env["TARGETD_CA"])  # fmt: skip


def pools_by_name(rpc) -> dict[str, dict]:
    return {p["name"]: p for p in rpc("pool_list")}
