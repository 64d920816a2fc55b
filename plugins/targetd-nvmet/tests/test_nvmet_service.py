"""The export logic on a fake configfs: layout, identity, rollback, state replay."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from nvmet_fakes import FakeNvmet, core_with_pools
from targetd_nvmet import naming
from targetd_nvmet.service import NvmetExports

from targetd_core.plugin import TargetdError
from targetd_core.testing import record_attach

PREFIX = "nqn.2003-01.org.targetd:test"
H1 = "nqn.2014-08.org.example:host-one"
H2 = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
KEY = "DHHC-1:00:FbRSyfam10ShRKgAPXxNbeW9hdm6Cfj8aEJTfuZb9NWT8lbJ:"


def make(tmp_path: Path, auth: bool = True, addresses=("127.0.0.1",)):
    core, pools = core_with_pools(tmp_path, ["vg/thin", "zp/block"], ("v1", "v2", "v3"))
    cfs = FakeNvmet(tmp_path / "nvmet", auth=auth)
    svc = NvmetExports(core, PREFIX, list(addresses), 4420, tmp_path / "state.json", cfs=cfs)
    return svc, cfs, pools


def sub_of(host: str) -> str:
    return naming.subsystem_nqn(PREFIX, host)


def code(call, *args) -> int:
    with pytest.raises(TargetdError) as e:
        call(*args)
    return e.value.code


def test_layout_one_subsystem_per_host_on_every_port(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path, addresses=("127.0.0.1", "::1"))
    got = svc.export_create("vg/thin", "v1", H1, None)
    s = sub_of(H1)
    assert got == {"host_nqn": H1, "subsystem_nqn": s, "nsid": 1}
    root = cfs.root
    assert (root / "subsystems" / s / "attr_allow_any_host").read_text() == "0"
    assert (root / "subsystems" / s / "attr_serial").read_text() == s.rpartition("-")[2][:20]
    assert os.listdir(root / "subsystems" / s / "allowed_hosts") == [H1]
    ns = root / "subsystems" / s / "namespaces" / "1"
    vol = pools[0].vols["v1"]
    assert (ns / "device_path").read_text() == pools[0].device_path("v1")
    assert (ns / "device_uuid").read_text() == str(naming.namespace_uuid(vol.uuid))
    assert (ns / "device_nguid").read_text() == str(naming.namespace_uuid(vol.uuid))
    assert (ns / "enable").read_text() == "1"
    for pid, fam, addr in ((18700, "ipv4", "127.0.0.1"), (18701, "ipv6", "::1")):
        port = root / "ports" / str(pid)
        assert (port / "addr_trtype").read_text() == "tcp"
        assert (port / "addr_adrfam").read_text() == fam
        assert (port / "addr_traddr").read_text() == addr
        assert (port / "addr_trsvcid").read_text() == "4420"
        assert os.listdir(port / "subsystems") == [s]
    # a second volume: same subsystem, next namespace id; another host: its own subsystem
    assert svc.export_create("zp/block", "v1", H1, None)["nsid"] == 2
    assert svc.export_create("vg/thin", "v1", H2, 9)["nsid"] == 9
    assert sorted(os.listdir(root / "subsystems")) == sorted([s, sub_of(H2)])
    assert svc.export_count() == 3


def test_identity_is_stable_and_new_for_a_new_volume(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    svc.export_create("vg/thin", "v1", H1, None)
    first = svc.export_list()[0]["ns_uuid"]
    svc.export_destroy("vg/thin", "v1", H1)
    svc.export_create("vg/thin", "v1", H1, None)
    assert svc.export_list()[0]["ns_uuid"] == first
    svc.export_destroy("vg/thin", "v1", H1)
    pools[0].destroy_volume("v1")
    pools[0].create_volume("v1", 1 << 20)
    svc.export_create("vg/thin", "v1", H1, None)
    assert svc.export_list()[0]["ns_uuid"] != first


def test_idempotent_create_and_conflicts(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.export_create("vg/thin", "v1", H1, 4)
    before = cfs.snapshot()
    assert svc.export_create("vg/thin", "v1", H1, None)["nsid"] == 4
    assert svc.export_create("vg/thin", "v1", H1, 4)["nsid"] == 4
    assert cfs.snapshot() == before
    assert code(svc.export_create, "vg/thin", "v1", H1, 5) == -50
    assert code(svc.export_create, "vg/thin", "v2", H1, 4) == -50
    assert code(svc.export_create, "nope", "v2", H1, None) == -110
    assert code(svc.export_create, "vg/thin", "gone", H1, None) == -103
    assert code(svc.export_destroy, "vg/thin", "v2", H1) == -151
    assert code(svc.export_destroy, "vg/thin", "v1", H2) == -151
    for bad in (0, 1025, -3):
        assert code(svc.export_create, "vg/thin", "v2", H1, bad) == -32602
    assert cfs.snapshot() == before


def test_listing_and_destroy_cleans_up(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    empty = cfs.snapshot()
    svc.export_create("vg/thin", "v1", H1, None)
    svc.export_create("vg/thin", "v2", H1, None)
    vol = pools[0].vols["v2"]
    assert svc.export_list()[1] == {
        "host_nqn": H1, "subsystem_nqn": sub_of(H1), "nsid": 2, "pool": "vg/thin",
        "vol_name": "v2", "vol_uuid": vol.uuid, "vol_size": 1 << 20,
        "ns_uuid": str(naming.namespace_uuid(vol.uuid)), "enabled": True,
    }  # fmt: skip
    assert svc.volume_exported("vg/thin", "v2") and not svc.volume_exported("vg/thin", "v3")
    assert svc.host_list() == [{"host_nqn": H1, "subsystem_nqn": sub_of(H1), "exports": 2,
                                "auth": "none", "auth_enforced": False}]  # fmt: skip
    svc.export_destroy("vg/thin", "v1", H1)
    svc.export_destroy("vg/thin", "v2", H1)
    assert svc.export_list() == [] and svc.host_list() == []
    assert not svc.volume_exported("vg/thin", "v2")
    # the ports stay (they are the target's), nothing else
    ports = {k: v for k, v in empty.items()}
    assert {k for k in cfs.snapshot() if not k.startswith("ports")} == {
        k for k in ports if not k.startswith("ports")
    }
    assert json.loads(svc.state.path.read_text()) == {"version": 1, "hosts": {}}


def test_volume_exported_by_hand_counts(tmp_path: Path) -> None:
    """A namespace of the volume's device made outside targetd also blocks vol_destroy."""
    svc, cfs, pools = make(tmp_path)
    cfs.make_subsystem("nqn.2014-08.org.example:manual", "x")
    cfs.make_namespace(
        "nqn.2014-08.org.example:manual", 1, pools[0].device_path("v3"), str(uuid.uuid4())
    )
    assert svc.volume_exported("vg/thin", "v3")
    assert svc.export_list() == []  # not targetd's subsystem


@pytest.mark.parametrize("step", range(12))
def test_failed_create_leaves_configfs_and_state_as_they_were(tmp_path: Path, step: int) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.export_create("vg/thin", "v1", H2, None)  # something that must stay as it is
    svc.ensure_ports()
    before, state = cfs.snapshot(), svc.state.path.read_text()
    cfs.fail_at = step
    try:
        svc.export_create("vg/thin", "v2", H1, None)
    except TargetdError as exc:
        assert exc.code == -1 and "nvmet refused" in exc.message
        assert cfs.snapshot() == before
        assert svc.state.path.read_text() == state
    else:
        assert cfs.fail_at is not None  # the failure was never reached: all done
        assert [e["vol_name"] for e in svc.export_list() if e["host_nqn"] == H1] == ["v2"]


@pytest.mark.parametrize("step", range(8))
def test_failed_destroy_leaves_configfs_and_state_as_they_were(tmp_path: Path, step: int) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.export_create("vg/thin", "v1", H1, None)
    before, state = cfs.snapshot(), svc.state.path.read_text()
    cfs.fail_at = step
    try:
        svc.export_destroy("vg/thin", "v1", H1)
    except TargetdError:
        assert cfs.snapshot() == before
        assert svc.state.path.read_text() == state
    else:  # the failure was absorbed (disabling before rmdir) or never reached
        assert not svc.volume_exported("vg/thin", "v1")
        assert svc.export_list() == []


def test_state_write_failure_rolls_back(tmp_path: Path, monkeypatch) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.ensure_ports()
    before = cfs.snapshot()

    def broken(doc):
        raise TargetdError(-1, "cannot write the NVMe state file")

    monkeypatch.setattr(svc.state, "save", broken)
    assert code(svc.export_create, "vg/thin", "v1", H1, None) == -1
    assert cfs.snapshot() == before


def test_auth_written_kept_and_cleared(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.host_set_auth(H1, KEY, KEY, "hmac(sha512)", "ffdhe2048")
    h = cfs.root / "hosts" / H1
    assert (h / "dhchap_key").read_text() == KEY
    assert (h / "dhchap_ctrl_key").read_text() == KEY
    assert (h / "dhchap_hash").read_text() == "hmac(sha512)"
    assert (h / "dhchap_dhgroup").read_text() == "ffdhe2048"
    assert stat.S_IMODE(svc.state.path.stat().st_mode) == 0o600
    svc.export_create("vg/thin", "v1", H1, None)
    svc.export_destroy("vg/thin", "v1", H1)
    assert (h / "dhchap_key").read_text() == KEY  # the keys outlive the exports
    assert svc.host_list()[0]["auth"] == "bidirectional"
    svc.export_create("vg/thin", "v1", H1, None)
    svc.host_clear_auth(H1)
    assert (h / "dhchap_key").read_text() == ""
    assert os.listdir(cfs.root / "subsystems" / sub_of(H1) / "allowed_hosts") == [H1]
    assert svc.host_list()[0]["auth"] == "none"
    svc.host_clear_auth(H1)  # no error when none is set


def test_auth_refused_without_kernel_support(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path, auth=False)
    before = cfs.snapshot()
    with pytest.raises(TargetdError) as e:
        svc.host_set_auth(H1, KEY, None, None, None)
    assert e.value.code == -153 and "CONFIG_NVME_TARGET_AUTH" in e.value.message
    assert KEY not in e.value.message
    assert cfs.snapshot() == before
    assert not svc.state.path.exists()


def test_bad_keys_and_names_are_refused_without_echo(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path)
    for bad in ("hunter2", KEY[:-2] + "A:", "DHHC-1:04:" + KEY[10:], KEY + "\n"):
        with pytest.raises(TargetdError) as e:
            svc.host_set_auth(H1, bad, None, None, None)
        assert e.value.code == -32602 and bad not in e.value.message
    assert code(svc.host_set_auth, H1, KEY, None, "md5", None) == -32602
    assert code(svc.host_set_auth, "../../etc", KEY, None, None, None) == -32602
    assert code(svc.export_create, "vg/thin", "v1", "nqn.2014-08.org.example:a/b", None) == -32602
    assert cfs.all_paths() == ["hosts", "ports", "subsystems"]


def test_restore_replays_after_a_reboot(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    svc.host_set_auth(H2, KEY, None, None, None)
    svc.export_create("vg/thin", "v1", H1, 3)
    svc.export_create("zp/block", "v2", H1, None)
    svc.export_create("vg/thin", "v1", H2, None)
    listing, before = svc.export_list(), cfs.snapshot()
    # the kernel forgets everything
    import shutil

    shutil.rmtree(cfs.root)
    cfs = FakeNvmet(tmp_path / "nvmet")
    svc2 = NvmetExports(svc.core, PREFIX, ["127.0.0.1"], 4420, svc.state.path, cfs=cfs)
    counts = svc2.restore()
    assert counts == {"hosts": 2, "namespaces": 3, "skipped": 0}
    assert svc2.export_list() == listing
    assert cfs.snapshot() == before
    assert svc2.restore() == counts  # again: nothing changes
    assert cfs.snapshot() == before


def test_restore_never_opens_a_host_without_its_keys(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.host_set_auth(H1, KEY, None, None, None)
    svc.export_create("vg/thin", "v1", H1, None)
    svc.export_create("vg/thin", "v1", H2, None)
    import shutil

    shutil.rmtree(cfs.root)
    cfs = FakeNvmet(tmp_path / "nvmet", auth=False)  # booted a kernel without auth
    svc2 = NvmetExports(svc.core, PREFIX, ["127.0.0.1"], 4420, svc.state.path, cfs=cfs)
    assert svc2.restore() == {"hosts": 1, "namespaces": 1, "skipped": 1}
    assert [e["host_nqn"] for e in svc2.export_list()] == [H2]
    assert not (cfs.root / "hosts" / H1).exists()


def test_restore_skips_bad_and_stale_records(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    svc.export_create("vg/thin", "v1", H1, None)
    svc.export_create("vg/thin", "v2", H1, None)
    doc = json.loads(svc.state.path.read_text())
    doc["hosts"]["nqn.2014-08.org.example:../../x"] = {"namespaces": {}}
    doc["hosts"]["nqn.2014-08.org.example:bad-ns"] = {
        "namespaces": {"01": {"pool": "vg/thin", "volume": "v3", "uuid": "u", "device": "/d"}}
    }
    svc.state.path.write_text(json.dumps(doc))
    pools[0].destroy_volume("v2")
    pools[0].create_volume("v2", 1 << 20)  # re-created: another uuid, other data
    import shutil

    shutil.rmtree(cfs.root)
    cfs = FakeNvmet(tmp_path / "nvmet")
    svc2 = NvmetExports(svc.core, PREFIX, ["127.0.0.1"], 4420, svc.state.path, cfs=cfs)
    assert svc2.restore() == {"hosts": 1, "namespaces": 1, "skipped": 3}
    assert [(e["vol_name"], e["nsid"]) for e in svc2.export_list()] == [("v1", 1)]
    assert sorted(os.listdir(cfs.root / "hosts")) == [H1]


def test_port_address_change_is_applied(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path)
    svc.export_create("vg/thin", "v1", H1, None)
    svc2 = NvmetExports(svc.core, PREFIX, ["127.0.0.2"], 4421, svc.state.path, cfs=cfs)
    svc2.ensure_ports()
    port = cfs.root / "ports" / "18700"
    assert (port / "addr_traddr").read_text() == "127.0.0.2"
    assert (port / "addr_trsvcid").read_text() == "4421"
    assert os.listdir(port / "subsystems") == [sub_of(H1)]


def test_auth_refused_for_an_exported_host_leaves_it_untouched(tmp_path: Path) -> None:
    svc, cfs, _ = make(tmp_path, auth=False)
    svc.export_create("vg/thin", "v1", H1, None)
    before, changes = cfs.snapshot(), cfs.changes
    assert code(svc.host_set_auth, H1, KEY, None, None, None) == -153
    assert cfs.snapshot() == before and cfs.changes == changes  # not even unlinked for a moment


def test_restore_goes_on_after_a_host_that_fails(tmp_path: Path) -> None:
    import shutil

    svc, cfs, _ = make(tmp_path)
    svc.export_create("vg/thin", "v1", H1, None)
    svc.export_create("vg/thin", "v2", H2, None)
    shutil.rmtree(cfs.root)
    cfs = FakeNvmet(tmp_path / "nvmet")
    svc2 = NvmetExports(svc.core, PREFIX, ["127.0.0.1"], 4420, svc.state.path, cfs=cfs)
    svc2.ensure_ports()
    # the first host's subsystem: mkdir host (0), mkdir subsystem (1), its 3 writes, ...
    cfs.fail_at = 1
    counts = svc2.restore()
    assert counts["skipped"] == 1 and counts["hosts"] == 1
    assert len(svc2.export_list()) == 1
    assert len(os.listdir(cfs.root / "hosts")) == 1  # the failed host's entry was undone


def test_volume_attached_for_first_export_detached_after_last(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    calls = record_attach(pools[0])
    svc.export_create("vg/thin", "v1", H1, None)
    svc.export_create("vg/thin", "v1", H2, None)
    assert calls == [("attach", "v1"), ("attach", "v1")]
    svc.export_destroy("vg/thin", "v1", H1)
    assert ("detach", "v1") not in calls  # H2 still has it
    svc.export_destroy("vg/thin", "v1", H2)
    assert calls[-1] == ("detach", "v1")


def test_failed_create_detaches_again(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    calls = record_attach(pools[0])
    cfs.fail_at = 0
    with pytest.raises(TargetdError):
        svc.export_create("vg/thin", "v1", H1, None)
    assert calls == [("attach", "v1"), ("detach", "v1")]
    assert svc.export_list() == []


def test_failed_create_keeps_the_device_another_export_uses(tmp_path: Path) -> None:
    svc, cfs, pools = make(tmp_path)
    calls = record_attach(pools[0])
    svc.export_create("vg/thin", "v1", H1, None)
    cfs.fail_at = 0
    with pytest.raises(TargetdError):
        svc.export_create("vg/thin", "v1", H2, None)
    assert calls == [("attach", "v1"), ("attach", "v1")]  # H1's export still uses it
    assert [e["host_nqn"] for e in svc.export_list()] == [H1]
