"""The targetd-client library and targetd-cli against the appliance: every API method through
the client (volumes on the LVM thin pool, iSCSI exports and CHAP, access groups, btrfs file
systems with snapshots and clones, NFS exports), checked where it matters in the guest
(lvs, LIO's configfs, the file systems, exportfs).

The client comes from ``clients/targetd-client``: installed (``pip install
clients/targetd-client``) or, failing that, imported from the working tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
try:
    import targetd_client
except ImportError:  # not installed: use the working tree's copy
    sys.path.insert(0, str(REPO / "clients" / "targetd-client"))
    import targetd_client

from targetd_client import (  # noqa: E402
    AuthenticationError,
    Client,
    ErrorCode,
    TargetdError,
    TLSError,
)

THIN = "vg-targetd/thin_pool"
BTRFS = "/mnt/btrfs"
TARGET = "iqn.2003-01.org.linux-iscsi.appliance:targetd"
TPG = f"/sys/kernel/config/target/iscsi/{TARGET}/tpgt_1"
MiB = 1 << 20
CONTRACT_METHODS = {
    "pool_list", "vol_list", "vol_create", "vol_destroy", "vol_copy", "vol_resize",
    "export_list", "export_create", "export_destroy", "initiator_set_auth", "initiator_list",
    "access_group_list", "access_group_create", "access_group_destroy", "access_group_init_add",
    "access_group_init_del", "access_group_map_list", "access_group_map_create",
    "access_group_map_destroy", "fs_list", "fs_create", "fs_destroy", "fs_clone", "ss_list",
    "fs_snapshot", "fs_snapshot_delete", "nfs_export_auth_list", "nfs_export_list",
    "nfs_export_add", "nfs_export_remove",
}  # fmt: skip


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def iqn(tag: str) -> str:
    return f"iqn.1994-05.org.example.client:{tag}-{uuid.uuid4().hex[:8]}"


def code_of(call: Any, *args: Any, **kw: Any) -> int:
    with pytest.raises(TargetdError) as e:
        call(*args, **kw)
    return e.value.code


def guest_text(guest_exec: Any, argv: list[str] | str, check: bool = True) -> str:
    return guest_exec(argv, check=check).stdout.decode()


@pytest.fixture(scope="module")
def c(appliance_env: dict[str, str]) -> Iterator[Client]:
    with Client(
        appliance_env["TARGETD_URL"],
        appliance_env["TARGETD_USER"],
        appliance_env["TARGETD_PASSWORD"],
        ca=appliance_env["TARGETD_CA"],
    ) as client:
        yield client


@pytest.fixture
def cleanup(c: Client) -> Iterator[list[Any]]:
    """Callables run (last first) after the test, errors ignored: leave the pools empty."""
    undo: list[Any] = []
    yield undo
    for fn in reversed(undo):
        try:
            fn()
        except TargetdError:
            pass


def lv_sizes(guest_exec: Any) -> dict[str, int]:
    out = guest_text(
        guest_exec,
        ["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size",
         "vg-targetd"],
    )  # fmt: skip
    return {lv["lv_name"]: int(lv["lv_size"]) for lv in json.loads(out)["report"][0]["lv"]}


# --- pools, discovery, transport --------------------------------------------------------
def test_pool_list_and_transport(c: Client, appliance_env: dict[str, str]) -> None:
    pools = {p["name"]: p for p in c.pool_list()}
    assert pools[THIN]["type"] == "block" and isinstance(pools[THIN]["uuid"], str)
    assert pools[BTRFS]["type"] == "fs"
    assert 0 <= pools[THIN]["free_size"] <= pools[THIN]["size"]
    # the kept-alive connection is reused, ids increase
    conn = c._transport._conn
    c.pool_list()
    assert c._transport._conn is conn
    # without the appliance's CA the certificate is refused; a wrong password is a 401
    with pytest.raises(TLSError, match="not trusted"):
        Client(appliance_env["TARGETD_URL"], "admin", "x", timeout=30).pool_list()
    with pytest.raises(AuthenticationError):
        Client(
            appliance_env["TARGETD_URL"],
            appliance_env["TARGETD_USER"],
            "wrong-" + uuid.uuid4().hex,
            ca=appliance_env["TARGETD_CA"],
            timeout=30,
        ).pool_list()


def test_discover(c: Client) -> None:
    try:
        doc = c.discover()
    except TargetdError as e:
        if e.code == ErrorCode.METHOD_NOT_FOUND:
            pytest.xfail("rpc.discover is not in the core yet")
        raise
    names = {m["name"] for m in doc.get("methods", [])}
    assert CONTRACT_METHODS <= names, sorted(CONTRACT_METHODS - names)


# --- block volumes ----------------------------------------------------------------------
def test_volumes(c: Client, guest_exec: Any, cleanup: list[Any]) -> None:
    a, b = unique("cl-vol"), unique("cl-copy")
    cleanup += [lambda: c.vol_destroy(THIN, a), lambda: c.vol_destroy(THIN, b)]
    assert c.vol_create(THIN, a, 16 * MiB) is None
    (vol,) = [v for v in c.vol_list(THIN) if v["name"] == a]
    assert vol["size"] == 16 * MiB and isinstance(vol["uuid"], str)
    guest_exec(f"printf client-data | dd of=/dev/vg-targetd/{a} conv=fsync status=none")
    c.vol_copy(THIN, a, b, size=32 * MiB)
    c.vol_resize(THIN, a, 24 * MiB)
    vols = {v["name"]: v for v in c.vol_list(THIN)}
    assert (vols[a]["size"], vols[b]["size"]) == (24 * MiB, 32 * MiB)
    assert vols[a]["uuid"] != vols[b]["uuid"]
    assert {a: 24 * MiB, b: 32 * MiB}.items() <= lv_sizes(guest_exec).items()
    copied = guest_exec(["dd", f"if=/dev/vg-targetd/{b}", "bs=11", "count=1", "status=none"])
    assert copied.stdout == b"client-data"

    assert code_of(c.vol_list, "no-such-pool") == ErrorCode.INVALID_POOL
    assert code_of(c.vol_create, THIN, a, MiB) == ErrorCode.NAME_CONFLICT
    assert code_of(c.vol_create, THIN, "bad name!", MiB) == ErrorCode.INVALID_ARGUMENT
    assert code_of(c.vol_resize, THIN, a, 8 * MiB) == ErrorCode.INVALID_ARGUMENT
    assert code_of(c.vol_copy, THIN, "no-such-vol", unique("x")) == ErrorCode.VOLUME_NOT_FOUND
    c.vol_destroy(THIN, a)
    c.vol_destroy(THIN, b)
    assert code_of(c.vol_destroy, THIN, a) == ErrorCode.VOLUME_NOT_FOUND
    names = {v["name"] for v in c.vol_list(THIN)}
    assert not {a, b} & names
    assert not {a, b} & set(lv_sizes(guest_exec))


# --- iSCSI exports and CHAP -------------------------------------------------------------
def test_exports_and_initiator_auth(c: Client, guest_exec: Any, cleanup: list[Any]) -> None:
    vol, init = unique("cl-exp"), iqn("exp")
    cleanup += [
        lambda: c.vol_destroy(THIN, vol),
        lambda: c.initiator_set_auth(init),
        lambda: c.export_destroy(THIN, vol, init),
    ]
    c.vol_create(THIN, vol, 8 * MiB)
    (v,) = [x for x in c.vol_list(THIN) if x["name"] == vol]
    c.export_create(THIN, vol, init, 3)
    c.export_create(THIN, vol, init, 3)  # the same again: no change
    mine = [e for e in c.export_list() if e["initiator_wwn"] == init]
    assert mine == [
        {
            "initiator_wwn": init,
            "lun": 3,
            "vol_name": vol,
            "vol_size": 8 * MiB,
            "vol_uuid": v["uuid"],
            "pool": THIN,
        }
    ]
    assert {"init_id": init, "init_type": "iscsi"} in c.initiator_list()
    assert init in {i["init_id"] for i in c.initiator_list(standalone_only=True)}
    guest_exec(["test", "-d", f"{TPG}/acls/{init}/lun_3"])
    assert code_of(c.vol_destroy, THIN, vol) == ErrorCode.VOLUME_MASKED

    c.initiator_set_auth(init, "cl-user", "cl-secret-123456", "tgt-user", "tgt-secret-654321")
    auth = f"{TPG}/acls/{init}/auth"
    assert guest_text(guest_exec, ["cat", f"{auth}/userid"]).strip() == "cl-user"
    assert guest_text(guest_exec, ["cat", f"{auth}/userid_mutual"]).strip() == "tgt-user"
    required = f"{TPG}/acls/{init}/attrib/authentication"
    if guest_exec(["test", "-e", required], check=False).returncode == 0:  # Linux 6.0+
        assert guest_text(guest_exec, ["cat", required]).strip() == "1"
    c.initiator_set_auth(init, None, None, None, None)  # CHAP off
    assert guest_text(guest_exec, ["cat", f"{auth}/userid"]).strip() in ("", "NULL")
    if guest_exec(["test", "-e", required], check=False).returncode == 0:
        assert guest_text(guest_exec, ["cat", required]).strip() == "0"

    c.export_destroy(THIN, vol, init)
    assert code_of(c.export_destroy, THIN, vol, init) == ErrorCode.EXPORT_NOT_FOUND
    assert not [e for e in c.export_list() if e["initiator_wwn"] == init]
    c.vol_destroy(THIN, vol)


# --- access groups ----------------------------------------------------------------------
def test_access_groups(c: Client, guest_exec: Any, cleanup: list[Any]) -> None:
    ag = unique("cl-ag")
    v1, v2 = unique("cl-agv"), unique("cl-agv")
    i1, i2, lone = iqn("ag1"), iqn("ag2"), iqn("lone")
    cleanup += [
        lambda: c.vol_destroy(THIN, v1),
        lambda: c.vol_destroy(THIN, v2),
        lambda: c.access_group_destroy(ag),
    ]
    c.vol_create(THIN, v1, 4 * MiB)
    c.vol_create(THIN, v2, 4 * MiB)
    c.access_group_create(ag, i1)
    assert code_of(c.access_group_create, ag, iqn("x")) == ErrorCode.NAME_CONFLICT
    assert code_of(c.access_group_create, unique("g"), i1) == ErrorCode.INITIATOR_IN_USE
    assert code_of(c.access_group_create, unique("g"), lone, "fc") == ErrorCode.NOT_SUPPORTED
    c.access_group_init_add(ag, i2)
    c.access_group_init_add(ag, i2)  # silent
    (group,) = [g for g in c.access_group_list() if g["name"] == ag]
    assert sorted(group["init_ids"]) == sorted([i1, i2]) and group["init_type"] == "iscsi"

    c.access_group_map_create(THIN, v1, ag)  # lowest free LUN
    c.access_group_map_create(THIN, v2, ag, h_lun_id=5)
    c.access_group_map_create(THIN, v2, ag, h_lun_id=5)  # silent
    maps = sorted((m["h_lun_id"], m["vol_name"]) for m in c.access_group_map_list()
                  if m["ag_name"] == ag)  # fmt: skip
    assert maps == [(0, v1), (5, v2)]
    assert all(m["pool_name"] == THIN for m in c.access_group_map_list() if m["ag_name"] == ag)
    assert code_of(c.access_group_map_create, THIN, v1, unique("nog")) == (
        ErrorCode.ACCESS_GROUP_NOT_FOUND
    )
    standalone = {i["init_id"] for i in c.initiator_list(standalone_only=True)}
    assert i1 not in standalone and i2 not in standalone
    assert code_of(c.vol_destroy, THIN, v2) == ErrorCode.VOLUME_MASKED
    for init in (i1, i2):
        guest_exec(["test", "-d", f"{TPG}/acls/{init}"])

    c.access_group_map_destroy(THIN, v2, ag)
    c.access_group_map_destroy(THIN, v2, ag)  # silent
    c.access_group_init_del(ag, i2)
    c.access_group_init_del(ag, i2)  # silent
    (group,) = [g for g in c.access_group_list() if g["name"] == ag]
    assert group["init_ids"] == [i1]
    c.vol_destroy(THIN, v2)
    c.access_group_destroy(ag)
    c.access_group_destroy(ag)  # silent
    assert ag not in {g["name"] for g in c.access_group_list()}
    assert not [m for m in c.access_group_map_list() if m["ag_name"] == ag]
    c.vol_destroy(THIN, v1)


# --- file systems, snapshots, clones ----------------------------------------------------
def test_filesystems_snapshots_and_clones(c: Client, guest_exec: Any, cleanup: list[Any]) -> None:
    name, clone, ss_clone = unique("cl-fs"), unique("cl-clone"), unique("cl-ssclone")

    def destroy_all() -> None:
        for f in c.fs_list():
            if f["pool"] == BTRFS and f["name"] in (name, clone, ss_clone):
                c.fs_destroy(f["uuid"])

    cleanup.append(destroy_all)
    c.fs_create(BTRFS, name, 64 * MiB)
    (fs,) = [f for f in c.fs_list() if f["name"] == name and f["pool"] == BTRFS]
    assert isinstance(fs["uuid"], str) and fs["full_path"].endswith(f"/{name}")
    assert code_of(c.fs_create, BTRFS, name, 0) == ErrorCode.FS_OR_SNAPSHOT_EXISTS
    path = fs["full_path"]
    guest_exec(["sh", "-c", f"echo before > {path}/f"])

    c.fs_snapshot(fs["uuid"], "snap1")
    assert code_of(c.fs_snapshot, fs["uuid"], "snap1") == ErrorCode.FS_OR_SNAPSHOT_EXISTS
    (ss,) = c.ss_list(fs["uuid"])
    assert ss["name"] == "snap1" and isinstance(ss["timestamp"], int)
    guest_exec(["sh", "-c", f"echo after > {path}/f"])

    c.fs_clone(fs["uuid"], clone)
    c.fs_clone(fs["uuid"], ss_clone, snapshot_id=ss["uuid"])
    assert code_of(c.fs_clone, fs["uuid"], clone) == ErrorCode.FS_CLONE_EXISTS
    assert code_of(c.fs_clone, "no-such-uuid", unique("x")) == ErrorCode.FS_NOT_FOUND
    assert code_of(c.fs_clone, fs["uuid"], unique("x"), "no-such-ss") == (
        ErrorCode.SNAPSHOT_NOT_FOUND
    )
    by_name = {f["name"]: f for f in c.fs_list() if f["pool"] == BTRFS}
    read = guest_text(guest_exec, ["cat", f"{by_name[clone]['full_path']}/f",
                                   f"{by_name[ss_clone]['full_path']}/f"])  # fmt: skip
    assert read == "after\nbefore\n"
    # clones are writable
    guest_exec(["sh", "-c", f"echo w > {by_name[ss_clone]['full_path']}/g"])

    assert code_of(c.fs_snapshot_delete, fs["uuid"], "no-such-ss") == ErrorCode.SNAPSHOT_NOT_FOUND
    c.fs_snapshot_delete(fs["uuid"], ss["uuid"])
    assert c.ss_list(fs["uuid"]) == []
    for n in (ss_clone, clone, name):
        c.fs_destroy(by_name[n]["uuid"])
    assert code_of(c.fs_destroy, fs["uuid"]) == ErrorCode.FS_NOT_FOUND
    left = {f["name"] for f in c.fs_list() if f["pool"] == BTRFS}
    assert not {name, clone, ss_clone} & left
    guest_exec(["test", "!", "-e", path])


# --- NFS exports ------------------------------------------------------------------------
def test_nfs_exports(c: Client, guest_exec: Any, cleanup: list[Any]) -> None:
    assert set(c.nfs_export_auth_list()) == {"sys", "krb5", "krb5i", "krb5p"}
    name, host = unique("cl-nfs"), "127.0.0.1"

    def destroy() -> None:
        for f in c.fs_list():
            if f["pool"] == BTRFS and f["name"] == name:
                c.fs_destroy(f["uuid"])

    cleanup.append(destroy)
    c.fs_create(BTRFS, name, 0)
    (fs,) = [f for f in c.fs_list() if f["name"] == name and f["pool"] == BTRFS]
    path = fs["full_path"]
    cleanup.append(lambda: c.nfs_export_remove(host, path))
    assert c.nfs_export_add(host, path, ["rw", "no_root_squash"]) == {"host": host, "path": path}
    (exp,) = [e for e in c.nfs_export_list() if e["path"] == path]
    assert exp["host"] == host and {"rw", "no_root_squash"} <= set(exp["options"])
    assert path in guest_text(guest_exec, ["exportfs", "-v"])
    assert code_of(c.nfs_export_add, host, path, ["rw", "ro"]) == ErrorCode.INVALID_ARGUMENT
    c.nfs_export_remove(host, path)
    assert code_of(c.nfs_export_remove, host, path) == ErrorCode.NFS_EXPORT_NOT_FOUND
    assert not [e for e in c.nfs_export_list() if e["path"] == path]
    assert path not in guest_text(guest_exec, ["exportfs", "-v"])
    c.fs_destroy(fs["uuid"])


# --- targetd-cli --------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """targetd-cli as a subprocess, credentials from the TARGETD_* environment."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(targetd_client.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    env.pop("TARGETD_CLI_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "targetd_client", *args], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip


def test_cli(c: Client, cleanup: list[Any]) -> None:
    cp = cli("pool", "list")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines()[0].split() == ["NAME", "TYPE", "SIZE", "FREE", "USED", "UUID"]
    assert any(line.split()[:2] == [THIN, "block"] for line in cp.stdout.splitlines())
    name = unique("cl-cli")
    cleanup.append(lambda: c.vol_destroy(THIN, name))
    assert cli("vol", "create", THIN, name, "12M").returncode == 0
    cp = cli("vol", "list", THIN, "--json")
    assert {"name": name, "size": 12 * MiB} in [
        {"name": v["name"], "size": v["size"]} for v in json.loads(cp.stdout)
    ]
    cp = cli("vol", "list", THIN)
    assert [line.split()[:2] for line in cp.stdout.splitlines() if name in line] == [[name, "12M"]]
    cp = cli("vol", "create", THIN, name, "12M")
    assert cp.returncode == 1 and "error -50 (NAME_CONFLICT)" in cp.stderr
    cp = cli("vol", "list", "no-such-pool")
    assert cp.returncode == 1 and "error -110" in cp.stderr
    assert cli("vol", "destroy", THIN, name).returncode == 0
    cp = cli("nfs", "auth")
    assert cp.returncode == 0 and "krb5p" in cp.stdout.split()
