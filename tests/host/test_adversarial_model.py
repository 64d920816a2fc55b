"""Stateful model testing of btrfs file systems, snapshots, clones and NFS exports
through the real daemon: hypothesis plays random sequences of create / snapshot /
clone / export / unexport / destroy against a model of what should exist, and after
every step the API's listings, the host's real state (btrfs, ``exportfs -v``, etab,
the exports file) and the model must agree.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .adversarial import SEED, FsTarget, fixed_settings, fs_target, ours, seed_note

FS_NAMES = ["a", "b", "c"]
SS_NAMES = ["s1", "s2"]
#: Distinct clients (no DNS); "localhost"/"LOCALHOST" are one client named two ways.
HOSTS = ["192.0.2.10", "192.0.2.0/24", "*", "2001:db8::1", "localhost", "LOCALHOST"]
#: What a refusal to destroy an exported fs may answer (the choice is the fs plugin's).
REFUSED_WHILE_EXPORTED = {-303, -153}
EXAMPLES = 8
STEPS = 25
#: Changing calls made, by method (printed: the figures of the run).
CALLS: dict[str, int] = {}


def canonical(host: str) -> str:
    """How the model names a client: host names are case-insensitive."""
    return host.lower()


@dataclass
class ModelFs:
    uuid: str
    snapshots: dict[str, str] = field(default_factory=dict)  # name -> uuid
    exports: dict[str, str] = field(default_factory=dict)  # canonical host -> "rw"/"ro"


class FsModel(RuleBasedStateMachine):
    t: FsTarget  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.fs: dict[str, ModelFs] = {}

    # -- helpers ------------------------------------------------------------------------

    def path(self, name: str) -> str:
        return str(self.t.mnt / "targetd_fs" / name)

    def code(self, method: str, **params: Any) -> int | None:
        """None on success, else the error code."""
        CALLS[method] = CALLS.get(method, 0) + 1
        reply = self.t.rpc(method, **params)
        return reply["error"]["code"] if "error" in reply else None

    def uuid_of(self, name: str) -> str:
        (fs,) = [f for f in self.t.call("fs_list") if f["name"] == name]
        return fs["uuid"]

    # -- rules (each draws from what exists, so most steps change something) ----------

    def existing(self, data: st.DataObject) -> tuple[str, ModelFs]:
        name = data.draw(st.sampled_from(sorted(self.fs)), label="fs")
        return name, self.fs[name]

    @rule(name=st.sampled_from(FS_NAMES), quota=st.sampled_from([0, 64 << 20]))
    def create(self, name: str, quota: int) -> None:
        got = self.code("fs_create", pool_name=str(self.t.mnt), name=name, size_bytes=quota)
        if name in self.fs:
            assert got == -53, f"fs_create of existing {name!r}: {got}"
            return
        assert got is None, f"fs_create {name!r}: {got}"
        self.fs[name] = ModelFs(self.uuid_of(name))

    @rule()
    def destroy_unknown(self) -> None:
        assert self.code("fs_destroy", uuid=str(uuidlib.uuid4())) == -104

    @precondition(lambda self: self.fs)
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        name, m = self.existing(data)
        got = self.code("fs_destroy", uuid=m.uuid)
        if got in REFUSED_WHILE_EXPORTED and m.exports:
            return  # refused while exported: nothing changes
        assert got is None, f"fs_destroy {name!r}: {got}"
        del self.fs[name]  # with its snapshots and (finding 4) its exports

    @precondition(lambda self: self.fs)
    @rule(data=st.data(), ss=st.sampled_from(SS_NAMES))
    def snapshot(self, data: st.DataObject, ss: str) -> None:
        name, m = self.existing(data)
        got = self.code("fs_snapshot", fs_uuid=m.uuid, dest_ss_name=ss)
        if ss in m.snapshots:
            assert got == -53, f"second snapshot {ss!r} of {name!r}: {got}"
            return
        assert got is None, f"fs_snapshot {name!r} {ss!r}: {got}"
        (listed,) = [s for s in self.t.call("ss_list", fs_uuid=m.uuid) if s["name"] == ss]
        m.snapshots[ss] = listed["uuid"]

    @precondition(lambda self: self.fs)
    @rule(data=st.data(), ss=st.sampled_from(SS_NAMES))
    def delete_snapshot(self, data: st.DataObject, ss: str) -> None:
        name, m = self.existing(data)
        if ss not in m.snapshots:
            got = self.code("fs_snapshot_delete", fs_uuid=m.uuid, ss_uuid=str(uuidlib.uuid4()))
            assert got == -112, f"fs_snapshot_delete of an unknown snapshot of {name!r}: {got}"
            return
        assert self.code("fs_snapshot_delete", fs_uuid=m.uuid, ss_uuid=m.snapshots[ss]) is None
        del m.snapshots[ss]

    @precondition(lambda self: self.fs)
    @rule(
        data=st.data(),
        dest=st.sampled_from(FS_NAMES),
        ss=st.sampled_from([None, *SS_NAMES]),
    )
    def clone(self, data: st.DataObject, dest: str, ss: str | None) -> None:
        name, m = self.existing(data)
        snap = m.snapshots.get(ss) if ss else None
        got = self.code("fs_clone", fs_uuid=m.uuid, dest_fs_name=dest, snapshot_id=snap)
        if dest in self.fs:
            assert got == -51, f"clone onto existing {dest!r}: {got}"
            return
        assert got is None, f"fs_clone {name!r} -> {dest!r}: {got}"
        self.fs[dest] = ModelFs(self.uuid_of(dest))

    @precondition(lambda self: self.fs)
    @rule(data=st.data(), host=st.sampled_from(HOSTS), rw=st.booleans())
    def export(self, data: st.DataObject, host: str, rw: bool) -> None:
        name, m = self.existing(data)
        mode = "rw" if rw else "ro"
        got = self.code("nfs_export_add", host=host, path=self.path(name), options=[mode])
        assert got is None, f"nfs_export_add {host!r} {name!r}: {got}"
        m.exports[canonical(host)] = mode

    @precondition(lambda self: any(m.exports for m in self.fs.values()))
    @rule(data=st.data(), other_spelling=st.booleans())
    def unexport(self, data: st.DataObject, other_spelling: bool) -> None:
        pairs = sorted((n, h) for n, m in self.fs.items() for h in m.exports)
        name, host = data.draw(st.sampled_from(pairs), label="export")
        sent = host.upper() if other_spelling else host
        got = self.code("nfs_export_remove", host=sent, path=self.path(name))
        assert got is None, f"nfs_export_remove {sent!r} {name!r}: {got}"
        del self.fs[name].exports[host]

    @rule(name=st.sampled_from(FS_NAMES), host=st.sampled_from(HOSTS))
    def unexport_unknown(self, name: str, host: str) -> None:
        m = self.fs.get(name)
        if m is not None and canonical(host) in m.exports:
            return
        got = self.code("nfs_export_remove", host=host, path=self.path(name))
        assert got == -400, f"nfs_export_remove of no export {host!r} {name!r}: {got}"

    # -- after every step -------------------------------------------------------------------

    @invariant()
    def listings_host_and_model_agree(self) -> None:
        fss = {f["name"]: f for f in self.t.call("fs_list")}
        assert sorted(fss) == sorted(self.fs), (sorted(fss), sorted(self.fs))
        for name, m in self.fs.items():
            assert fss[name]["uuid"] == m.uuid
            listed = {s["name"]: s["uuid"] for s in self.t.call("ss_list", fs_uuid=m.uuid)}
            assert listed == m.snapshots, (name, listed, m.snapshots)
        exports: dict[tuple[str, str], str] = {}
        for e in self.t.call("nfs_export_list"):
            if ours(e["path"], self.t.roots):
                mode = "rw" if "rw" in e["options"] else "ro"
                exports[(canonical(e["host"]), e["path"])] = mode
        expected = {
            (h, self.path(n)): mode for n, m in self.fs.items() for h, mode in m.exports.items()
        }
        assert exports == expected, (exports, expected)
        problems = self.t.problems()
        assert not problems, problems

    def teardown(self) -> None:
        """Back to an empty pool for the next example (through the API; what it cannot
        remove fails the test in the next example's first check)."""
        for e in self.t.call("nfs_export_list"):
            if ours(e["path"], self.t.roots):
                self.t.rpc("nfs_export_remove", host=e["host"], path=e["path"])
        for f in self.t.call("fs_list"):
            self.t.rpc("fs_destroy", uuid=f["uuid"])


@pytest.fixture(scope="module")
def fs_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FsTarget]:
    with fs_target(tmp_path_factory.mktemp("model")) as t:
        yield t


def test_fs_snapshots_clones_exports_model(fs_daemon: FsTarget) -> None:
    FsModel.t = fs_daemon
    print(f"stateful model {seed_note()}")
    run_state_machine_as_test(
        seed(SEED)(FsModel), settings=fixed_settings(EXAMPLES, stateful_steps=STEPS), _min_steps=5
    )
    print(f"stateful model: {sum(CALLS.values())} changing calls {CALLS}")
