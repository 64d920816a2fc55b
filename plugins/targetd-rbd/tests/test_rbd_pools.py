"""RbdPool's logic on fake bindings: volumes, sizes, errors, copies, connection reuse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rbd_fakes import FakeCluster
from targetd_rbd import cluster as cl
from targetd_rbd import devices
from targetd_rbd.config import ClusterSpec, parse_pool_spec
from targetd_rbd.pools import RbdPool

from targetd_core.plugin import ConfigError, TargetdError

SPEC = ClusterSpec("/etc/ceph/ceph.conf", "targetd", "/etc/ceph/k.keyring")


def pool(tmp_path: Path, spec: str = "rbd") -> RbdPool:
    return RbdPool(parse_pool_spec(spec), cl.Cluster(SPEC), "gw-a", sysfs=str(tmp_path / "sysfs"))


def code(call, *args) -> int:  # noqa: ANN001
    with pytest.raises(TargetdError) as e:
        call(*args)
    return e.value.code


def test_lifecycle(fake: FakeCluster, tmp_path: Path) -> None:
    p = pool(tmp_path)
    p.check()
    assert p.list_volumes() == []
    p.create_volume("v1", 1000)  # rounded up to a whole sector
    p.create_volume("v2", 1 << 20)
    vols = {v.name: v for v in p.list_volumes()}
    assert {n: v.size for n, v in vols.items()} == {"v1": 512 * 2, "v2": 1 << 20}
    assert vols["v1"].uuid != vols["v2"].uuid
    assert p.get_volume("v1") == vols["v1"]
    assert p.get_volume("nope") is None
    p.resize_volume("v1", 4097)
    assert p.get_volume("v1").size == 4608  # type: ignore[union-attr]
    p.destroy_volume("v1")
    assert [v.name for v in p.list_volumes()] == ["v2"]
    assert fake.connects == 1  # one connection for all of it
    assert fake.last_conf["rados_id"] == "targetd"
    assert fake.last_conf["keyring"] == "/etc/ceph/k.keyring"
    assert int(fake.last_conf["rados_osd_op_timeout"]) > 0


def test_errors_have_contract_codes(fake: FakeCluster, tmp_path: Path) -> None:
    p = pool(tmp_path)
    p.create_volume("v1", 4096)
    assert code(p.create_volume, "v1", 4096) == -50
    assert code(p.destroy_volume, "v0") == -103
    assert code(p.resize_volume, "v0", 8192) == -103
    assert code(p.create_volume, "v2", 0) == -32602
    # mapped or open elsewhere (another gateway exports it): not destroyed
    fake.pools["rbd"][""]["v1"].watchers = 1
    assert code(p.destroy_volume, "v1") == -303
    assert p.get_volume("v1") is not None


def test_namespace_keeps_images_apart(fake: FakeCluster, tmp_path: Path) -> None:
    a, b = pool(tmp_path, "rbd"), pool(tmp_path, "rbd/tenant")
    a.create_volume("v", 4096)
    b.create_volume("v", 8192)
    assert [v.size for v in a.list_volumes()] == [4096]
    assert [v.size for v in b.list_volumes()] == [8192]
    assert set(fake.pools["rbd"]) == {"", "tenant"}
    assert a.info().uuid != b.info().uuid


def test_info_from_the_cluster(fake: FakeCluster, tmp_path: Path) -> None:
    info = pool(tmp_path).info()
    assert (info.size, info.free_size, info.type) == (10000, 9000, "block")
    assert info.uuid == f"{fake.fsid}:1"


def test_pool_without_usage_yet_is_listed_with_zero_sizes(
    fake: FakeCluster, tmp_path: Path
) -> None:
    """A new pool the manager has not reported yet: listed (pool_list must not fail)."""
    fake.unreported.add("rbd")
    info = pool(tmp_path).info()
    assert (info.size, info.free_size, info.uuid) == (0, 0, f"{fake.fsid}:1")
    fake.pools.pop("rbd")
    assert code(pool(tmp_path).info) == -152


def test_missing_pool_is_a_config_error(fake: FakeCluster, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        pool(tmp_path, "nosuch").check()
    assert "nosuch" in str(e.value)


def test_unreachable_cluster(fake: FakeCluster, tmp_path: Path) -> None:
    fake.down = True
    p = pool(tmp_path)
    with pytest.raises(TargetdError) as e:
        p.list_volumes()
    assert e.value.code == -1 and "client.targetd" in e.value.message
    fake.down = False
    assert p.list_volumes() == []  # connects once the cluster answers


def test_copy_is_independent_and_grown(fake: FakeCluster, tmp_path: Path) -> None:
    p = pool(tmp_path)
    p.create_volume("src", 4096)
    fake.pools["rbd"][""]["src"].data = b"hello"
    p.copy_volume("src", "dst", 10000)
    dst = fake.pools["rbd"][""]["dst"]
    assert (dst.data, dst.size) == (b"hello", 10240)
    assert dst.id != fake.pools["rbd"][""]["src"].id
    p.copy_volume("src", "same", None)
    assert fake.pools["rbd"][""]["same"].size == 4096


def test_failed_copy_leaves_nothing(fake: FakeCluster, tmp_path: Path) -> None:
    p = pool(tmp_path)
    p.create_volume("src", 4096)
    fake.fail_deep_copy = True
    assert code(p.copy_volume, "src", "dst", None) == -1
    assert [v.name for v in p.list_volumes()] == ["src"]


def test_reconnects_in_a_forked_worker(
    fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pool(tmp_path)
    p.list_volumes()
    monkeypatch.setattr(os, "getpid", lambda: -1)
    p.list_volumes()
    assert fake.connects == 2


def _mapped(tmp_path: Path, n: int, image: str, fsid: str, snap: str = "-", ns: str = "") -> None:
    d = tmp_path / "sysfs" / str(n)
    d.mkdir(parents=True)
    for attr, value in (("cluster_fsid", fsid), ("pool", "rbd"), ("pool_ns", ns),
                        ("name", image), ("snap_name", snap)):  # fmt: skip
        (d / attr).write_text(value + "\n")


def test_device_path_only_while_attached(
    fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pool(tmp_path)
    p.create_volume("v1", 4096)
    assert code(p.device_path, "v1") == -1
    runs: list[list[str]] = []

    def run(argv: list[str], **kw: object):  # noqa: ANN202
        runs.append(argv)
        assert kw["timeout"]
        if argv[:3] == ["rbd", "device", "map"]:
            _mapped(tmp_path, 3, "v1", fake.fsid)
            return type("R", (), {"stdout": "/dev/rbd3\n"})()
        return type("R", (), {"stdout": ""})()

    monkeypatch.setattr(devices, "run", run)
    assert p.attach("v1") == "/dev/rbd3"
    assert runs[0][-2:] == ["--image", "v1"] and "noudev" in runs[0]
    assert p.attach("v1") == "/dev/rbd3"  # already mapped: no second map
    assert len(runs) == 1
    assert p.device_path("v1") == "/dev/rbd3"
    p.detach("v1")
    assert runs[1][:3] == ["rbd", "device", "unmap"] and runs[1][-1] == "/dev/rbd3"


def test_mappings_of_other_images_clusters_and_snapshots_are_not_ours(
    fake: FakeCluster, tmp_path: Path
) -> None:
    p = pool(tmp_path)
    _mapped(tmp_path, 0, "v1", "another-cluster")
    _mapped(tmp_path, 1, "v1", fake.fsid, snap="s1")
    _mapped(tmp_path, 2, "v1", fake.fsid, ns="tenant")
    _mapped(tmp_path, 3, "v10", fake.fsid)
    (tmp_path / "sysfs" / "not-a-device").mkdir()
    assert code(p.device_path, "v1") == -1
    _mapped(tmp_path, 12, "v1", fake.fsid)
    assert p.device_path("v1") == "/dev/rbd12"


def test_destroy_unmaps_a_leftover_mapping(
    fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pool(tmp_path)
    p.create_volume("v1", 4096)
    _mapped(tmp_path, 0, "v1", fake.fsid)
    unmapped: list[str] = []
    monkeypatch.setattr(devices, "unmap_device", lambda spec, dev: unmapped.append(dev))
    p.destroy_volume("v1")
    assert unmapped == ["/dev/rbd0"]
    assert p.get_volume("v1") is None


def test_through_the_dispatcher(fake: FakeCluster, tmp_path: Path) -> None:
    """The pool behind the real JSON-RPC methods (the core's checks, codes, listing)."""
    from targetd_core import testing

    t = testing.build(
        {"rbd_pools": ["rbd", "rbd/ns1"], "rbd_client": "targetd"}, ["rbd"], tmp_path / "run"
    )
    assert [p["name"] for p in t.call("pool_list")] == ["rbd", "rbd/ns1"]
    t.call("vol_create", pool="rbd", name="v1", size=1 << 20)
    testing.assert_error(-50, t.call, "vol_create", pool="rbd", name="v1", size=1 << 20)
    testing.assert_error(-32602, t.call, "vol_create", pool="rbd", name="a/b", size=1 << 20)
    t.call("vol_resize", pool="rbd", name="v1", size=2 << 20)
    t.call("vol_copy", pool="rbd", vol_orig="v1", vol_new="v2")
    vols = {v["name"]: v["size"] for v in t.call("vol_list", pool="rbd")}
    assert vols == {"v1": 2 << 20, "v2": 2 << 20}
    assert t.call("vol_list", pool="rbd/ns1") == []
    t.call("vol_destroy", pool="rbd", name="v2")
    testing.assert_error(-103, t.call, "vol_destroy", pool="rbd", name="v2")
