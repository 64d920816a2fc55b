"""NVMe/TCP exports on a real kernel: targetd's nvmet plugin in the appliance, checked with
nvme-cli in the guest connecting over 127.0.0.1:4420 under chosen host NQNs, and against what
nvmet's configfs holds."""

from __future__ import annotations

import pytest

from tests.realkernel.client import RPCError
from tests.realkernel.lio_helpers import Initiator, iqn
from tests.realkernel.lvm_helpers import read_digest, unique, write_random
from tests.realkernel.nvme_helpers import (
    NVMET,
    PREFIX,
    Host,
    configfs,
    disk_attr,
    disks,
    host_nqn,
    ns_uuid,
)

THIN = "vg-targetd/thin_pool"
ZVOLS = "zfs-targetd/block"
MiB = 1 << 20
#: Well-formed DH-HMAC-CHAP secrets (nvme gen-dhchap-key's format, CRC included).
KEY = "DHHC-1:00:FbRSyfam10ShRKgAPXxNbeW9hdm6Cfj8aEJTfuZb9NWT8lbJ:"


def code_of(call, *args, **kwargs) -> int:
    with pytest.raises(RPCError) as e:
        call(*args, **kwargs)
    return e.value.code


@pytest.fixture
def vols(rpc):
    """(pool, name) of volumes a test made; destroyed (after their exports) at the end."""
    made: list[tuple[str, str]] = []
    yield made
    destroy_volumes(rpc, made)


def destroy_volumes(rpc, made: list[tuple[str, str]]) -> None:
    """Destroy the (pool, name) volumes in made, after their NVMe and iSCSI exports."""
    for e in rpc("nvme_export_list"):
        if (e["pool"], e["vol_name"]) in made:
            rpc("nvme_export_destroy", pool=e["pool"], vol=e["vol_name"], host_nqn=e["host_nqn"])
    for e in rpc("export_list"):
        if (e["pool"], e["vol_name"]) in made:
            rpc("export_destroy", pool=e["pool"], vol=e["vol_name"],
                initiator_wwn=e["initiator_wwn"])  # fmt: skip
    for pool, name in made:
        try:
            rpc("vol_destroy", pool=pool, name=name)
        except RPCError as e:
            assert e.code == -103, e


@pytest.fixture
def hosts(guest_exec):
    """hosts(n) -> n fresh Hosts; every targetd subsystem disconnected at the end."""
    made: list[Host] = []

    def make(n: int = 1, tag: str = "h") -> list[Host]:
        new = [Host(guest_exec, host_nqn(tag)) for _ in range(n)]
        made.extend(new)
        return new

    yield make
    guest_exec("nvme disconnect-all >/dev/null 2>&1; true", check=False, timeout=120)


def new_volume(rpc, made, pool=THIN, size=64 * MiB) -> dict:
    name = unique("nv")
    rpc("vol_create", pool=pool, name=name, size=size)
    made.append((pool, name))
    return next(v for v in rpc("vol_list", pool=pool) if v["name"] == name)


def exports_of(rpc, host: str) -> list[dict]:
    return [e for e in rpc("nvme_export_list") if e["host_nqn"] == host]


def test_connect_identity_data_and_destroy(rpc, guest_exec, vols, hosts):
    vol = new_volume(rpc, vols)
    a, stranger = hosts(2)
    made = rpc("nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=a.nqn)
    sub = made["subsystem_nqn"]
    assert made == {"host_nqn": a.nqn, "subsystem_nqn": sub, "nsid": 1}
    assert sub.startswith(PREFIX + ":host-")
    # the same call again: no change
    assert rpc("nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=a.nqn) == made
    assert exports_of(rpc, a.nqn) == [{
        "host_nqn": a.nqn, "subsystem_nqn": sub, "nsid": 1, "pool": THIN,
        "vol_name": vol["name"], "vol_uuid": vol["uuid"], "vol_size": vol["size"],
        "ns_uuid": ns_uuid(vol["uuid"]), "enabled": True,
    }]  # fmt: skip
    h = [x for x in rpc("nvme_host_list") if x["host_nqn"] == a.nqn]
    assert h == [{"host_nqn": a.nqn, "subsystem_nqn": sub, "exports": 1, "auth": "none",
                  "auth_enforced": False}]  # fmt: skip
    # the kernel's view: only this host may connect
    assert guest_exec(["cat", f"{NVMET}/subsystems/{sub}/attr_allow_any_host"]).stdout == b"0\n"
    assert configfs(guest_exec)["subsystems"].count(sub) == 1

    assert a.connect(sub) == 0
    disk = disks(guest_exec, sub, want=1)[1]
    assert disk_attr(guest_exec, disk, "uuid") == ns_uuid(vol["uuid"])
    assert disk_attr(guest_exec, disk, "nguid").replace("-", "") == ns_uuid(vol["uuid"]).replace(
        "-", ""
    )
    digest = write_random(guest_exec, disk, 1, 4)
    assert read_digest(guest_exec, f"/dev/vg-targetd/{vol['name']}", 1, 4) == digest

    # a host not allowed sees nothing and cannot connect
    assert sub not in stranger.discover()
    assert stranger.connect(sub) != 0
    assert sub in a.discover()

    # -303 while exported
    assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303
    a.disconnect(sub)
    rpc("nvme_export_destroy", pool=THIN, vol=vol["name"], host_nqn=a.nqn)
    assert exports_of(rpc, a.nqn) == []
    cfs = configfs(guest_exec)
    assert sub not in cfs["subsystems"] and a.nqn not in cfs["hosts"]
    assert a.connect(sub) != 0
    rpc("vol_destroy", pool=THIN, name=vol["name"])
    vols.remove((THIN, vol["name"]))


def test_namespace_ids_errors_and_zvols(rpc, guest_exec, vols, hosts):
    v1, v2 = new_volume(rpc, vols), new_volume(rpc, vols, pool=ZVOLS)
    (a,) = hosts(1)
    assert rpc("nvme_export_create", pool=THIN, vol=v1["name"], host_nqn=a.nqn, nsid=7)["nsid"] == 7
    # nsid taken by another volume; the same volume at another nsid
    assert code_of(rpc, "nvme_export_create", pool=ZVOLS, vol=v2["name"], host_nqn=a.nqn,
                   nsid=7) == -50  # fmt: skip
    assert code_of(rpc, "nvme_export_create", pool=THIN, vol=v1["name"], host_nqn=a.nqn,
                   nsid=8) == -50  # fmt: skip
    got = rpc("nvme_export_create", pool=ZVOLS, vol=v2["name"], host_nqn=a.nqn)
    assert got["nsid"] == 1
    for bad in (0, 1025, -1, "x", True):
        assert code_of(rpc, "nvme_export_create", pool=THIN, vol=v1["name"], host_nqn=a.nqn,
                       nsid=bad) == -32602  # fmt: skip
    assert code_of(rpc, "nvme_export_create", pool="nope", vol=v1["name"], host_nqn=a.nqn) == -110
    assert code_of(rpc, "nvme_export_create", pool=THIN, vol="nope", host_nqn=a.nqn) == -103
    assert code_of(rpc, "nvme_export_destroy", pool=THIN, vol="nope", host_nqn=a.nqn) == -151
    sub = got["subsystem_nqn"]
    assert a.connect(sub) == 0
    found = disks(guest_exec, sub, want=2)
    assert sorted(found) == [1, 7]
    assert disk_attr(guest_exec, found[1], "uuid") == ns_uuid(v2["uuid"])
    digest = write_random(guest_exec, found[1], 0, 2)
    zdev = guest_exec(f"readlink -f /dev/zvol/{ZVOLS}/{v2['name']}").stdout.decode().strip()
    assert read_digest(guest_exec, zdev, 0, 2) == digest
    assert code_of(rpc, "vol_destroy", pool=ZVOLS, name=v2["name"]) == -303
    a.disconnect(sub)


@pytest.mark.parametrize(
    "name",
    ["nqn.2014-08.org.example:a/../../x", "nqn.2014-08.org.example:a b", "../hosts", "nqn.2014-08.org.example:\u00e9",
     "nqn.2014-08.org.example:a\n", "nqn.2014-08.org.example:" + "a" * 200,
     "nqn.2014-08.org.nvmexpress.discovery", "NQN.2014-08.org.example:a", ""],
)  # fmt: skip
def test_hostile_host_nqns_are_refused(rpc, guest_exec, vols, name):
    vol = new_volume(rpc, vols, size=4 * MiB)
    before = configfs(guest_exec)
    assert code_of(rpc, "nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=name) == -32602
    assert code_of(rpc, "nvme_host_set_auth", host_nqn=name, host_key=KEY) == -32602
    assert configfs(guest_exec) == before


def test_dh_hmac_chap_where_the_kernel_has_it(rpc, guest_exec, vols, hosts):
    """The appliance's kernel (Debian 12 cloud, 6.1) is built without
    CONFIG_NVME_TARGET_AUTH: a host entry has no dhchap_* attributes, and targetd answers
    -153 rather than export to a host without the keys it was asked to require. On a
    kernel with it, the keys are enforced: no key and a wrong key are refused."""
    vol = new_volume(rpc, vols)
    a, other = hosts(2)
    sub = rpc("nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=a.nqn)["subsystem_nqn"]
    supported = guest_exec(["test", "-e", f"{NVMET}/hosts/{a.nqn}/dhchap_key"],
                           check=False).returncode == 0  # fmt: skip
    # malformed keys: -32602 whatever the kernel (and the secret is never echoed)
    for bad in ("secret", KEY[:-2] + "A:", "DHHC-1:04:" + KEY[10:]):
        with pytest.raises(RPCError) as e:
            rpc("nvme_host_set_auth", host_nqn=a.nqn, host_key=bad)
        assert e.value.code == -32602 and bad not in e.value.message
    if not supported:
        assert guest_exec(["ls", f"{NVMET}/hosts/{a.nqn}"]).stdout == b""
        with pytest.raises(RPCError) as e:
            rpc("nvme_host_set_auth", host_nqn=a.nqn, host_key=KEY)
        assert e.value.code == -153 and "CONFIG_NVME_TARGET_AUTH" in e.value.message
        assert KEY not in e.value.message
        assert [x["auth"] for x in rpc("nvme_host_list") if x["host_nqn"] == a.nqn] == ["none"]
        # a host never exported and refused leaves nothing behind
        assert code_of(rpc, "nvme_host_set_auth", host_nqn=other.nqn, host_key=KEY) == -153
        assert other.nqn not in configfs(guest_exec)["hosts"]
        assert a.connect(sub) == 0  # the export itself is unchanged
        a.disconnect(sub)
        return
    wrong = guest_exec(["nvme", "gen-dhchap-key", "-n", a.nqn]).stdout.decode().strip()
    rpc("nvme_host_set_auth", host_nqn=a.nqn, host_key=KEY)
    assert a.connect(sub) != 0
    assert a.connect(sub, key=wrong) != 0
    assert a.connect(sub, key=KEY) == 0
    a.disconnect(sub)
    rpc("nvme_host_clear_auth", host_nqn=a.nqn)
    assert a.connect(sub) == 0
    a.disconnect(sub)


def test_same_volume_over_iscsi_and_nvme(rpc, guest_exec, vols, hosts):
    """Documented: a volume may be exported over both at once (a migration from iSCSI to
    NVMe/TCP); both see the same data; it cannot be destroyed while either export exists."""
    vol = new_volume(rpc, vols)
    (h,) = hosts(1)
    ini = Initiator(guest_exec, iqn("nv"))
    try:
        rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=ini.name, lun=0)
        sub = rpc("nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=h.nqn)["subsystem_nqn"]
        assert h.connect(sub) == 0
        ndisk = disks(guest_exec, sub, want=1)[1]
        digest = write_random(guest_exec, ndisk, 2, 2)
        assert ini.login() == 0
        sdisk = ini.disks(want=1)[0]
        assert read_digest(guest_exec, sdisk, 2, 2) == digest
        ini.logout()
        h.disconnect(sub)
        rpc("nvme_export_destroy", pool=THIN, vol=vol["name"], host_nqn=h.nqn)
        assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303  # iSCSI still
        rpc("nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=h.nqn)
        rpc("export_destroy", pool=THIN, vol=vol["name"], initiator_wwn=ini.name)
        assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303  # NVMe still
    finally:
        ini.remove()
