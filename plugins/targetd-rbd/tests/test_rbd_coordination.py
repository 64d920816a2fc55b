"""Two gateways on one (fake) cluster: export records in image metadata, change locks as
RADOS object locks. The logic only: that Ceph and the kernel do what is asked is the
gateways tier's job (tests/gateways/test_rbd_gateways.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rbd_fakes import FakeCluster
from targetd_rbd import cluster as cl
from targetd_rbd import coordination, devices
from targetd_rbd.config import GATEWAY_RE, ClusterSpec, check_gateway_id, parse_pool_spec
from targetd_rbd.pools import RbdPool

from targetd_core import testing
from targetd_core.plugin import TargetdError


class Gateways:
    """Gateways "a" and "b": each its own connection, gateway id and sysfs; mapping and
    unmapping write and remove the sysfs entries kernel RBD would have."""

    def __init__(self, fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.fake, self.tmp = fake, tmp_path
        self.pools: dict[str, RbdPool] = {}
        self.fail_map = False
        for gw in ("a", "b"):
            spec = ClusterSpec(f"/etc/ceph/{gw}.conf", "targetd", None)
            self.pools[gw] = RbdPool(
                parse_pool_spec("rbd"), cl.Cluster(spec), f"gw-{gw}", sysfs=str(tmp_path / gw)
            )
        self.next_dev = 0
        monkeypatch.setattr(devices, "map_image", self.map_image)
        monkeypatch.setattr(devices, "unmap_device", self.unmap_device)

    def __getitem__(self, gw: str) -> RbdPool:
        return self.pools[gw]

    def map_image(self, spec: ClusterSpec, pool: str, ns: str, image: str) -> str:
        if self.fail_map:
            raise TargetdError(-1, "rbd device map failed")
        gw = spec.conf.split("/")[-1].split(".")[0]
        n = self.next_dev = self.next_dev + 1
        d = self.tmp / gw / str(n)
        d.mkdir(parents=True)
        for attr, value in (("cluster_fsid", self.fake.fsid), ("pool", pool), ("pool_ns", ns),
                            ("name", image), ("snap_name", "-")):  # fmt: skip
            (d / attr).write_text(value + "\n")
        self.fake.pools[pool][ns][image].watchers += 1
        return f"/dev/rbd{n}"

    def unmap_device(self, spec: ClusterSpec, device: str) -> None:
        gw = spec.conf.split("/")[-1].split(".")[0]
        d = self.tmp / gw / device.removeprefix("/dev/rbd")
        image = (d / "name").read_text().strip()
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
        img = self.fake.pools["rbd"][""].get(image)
        if img is not None:
            img.watchers -= 1

    def records(self, image: str) -> set[str]:
        meta = self.fake.pools["rbd"][""][image].metadata
        return {k.removeprefix("targetd.export.") for k in meta if k.startswith("targetd.")}


@pytest.fixture
def gws(fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Gateways:
    return Gateways(fake, tmp_path, monkeypatch)


def error(call, *args) -> TargetdError:  # noqa: ANN001
    with pytest.raises(TargetdError) as e:
        call(*args)
    return e.value


def test_both_gateways_see_the_same_volumes(gws: Gateways) -> None:
    gws["a"].create_volume("v1", 4096)
    assert gws["b"].list_volumes() == gws["a"].list_volumes()
    assert error(gws["b"].create_volume, "v1", 4096).code == -50


def test_export_is_recorded_in_the_image_while_exported(gws: Gateways) -> None:
    gws["a"].create_volume("v1", 4096)
    assert gws["a"].attach("v1") == "/dev/rbd1"
    (key, value), *rest = gws.fake.pools["rbd"][""]["v1"].metadata.items()
    assert key == "targetd.export.gw-a" and not rest
    assert set(json.loads(value)) == {"host", "since"}
    assert gws.records("v1") == {"gw-a"}
    gws["a"].detach("v1")
    assert gws.records("v1") == set()
    assert gws.fake.pools["rbd"][""]["v1"].watchers == 0


def test_failed_mapping_takes_the_record_back(gws: Gateways) -> None:
    gws["a"].create_volume("v1", 4096)
    gws.fail_map = True
    assert error(gws["a"].attach, "v1").code == -1
    assert gws.records("v1") == set()
    assert not gws.fake.locks  # the change lock was let go


def test_volume_exported_by_a_is_not_destroyed_through_b_even_unmapped(gws: Gateways) -> None:
    gws["a"].create_volume("v1", 4096)
    gws["a"].attach("v1")
    gws.fake.pools["rbd"][""]["v1"].watchers = 0  # a's mapping is down: Ceph cannot tell
    e = error(gws["b"].destroy_volume, "v1")
    assert e.code == -303
    assert "gw-a" in e.message and "rbd image-meta remove rbd/v1 targetd.export.gw-a" in e.message
    assert gws["b"].get_volume("v1") is not None and gws.records("v1") == {"gw-a"}
    assert not gws.fake.locks
    gws.fake.pools["rbd"][""]["v1"].watchers = 1  # a's mapping is back; a unexports
    gws["a"].detach("v1")
    gws["b"].destroy_volume("v1")
    assert gws["a"].get_volume("v1") is None


def test_both_gateways_export_one_image(gws: Gateways) -> None:
    """The multipath case: both record; each removes only its own record."""
    gws["a"].create_volume("v1", 4096)
    gws["a"].attach("v1")
    gws["b"].attach("v1")
    assert gws.records("v1") == {"gw-a", "gw-b"}
    gws["b"].detach("v1")
    assert gws.records("v1") == {"gw-a"}
    assert error(gws["b"].destroy_volume, "v1").code == -303


def test_own_stale_record_does_not_block_destroy(gws: Gateways) -> None:
    """A record of this gateway with no export here (a crash between unexport and record
    removal): the core has checked nothing here exports it, so it goes with the image."""
    gws["a"].create_volume("v1", 4096)
    gws.fake.pools["rbd"][""]["v1"].metadata["targetd.export.gw-a"] = "{}"
    gws["a"].destroy_volume("v1")
    assert gws["a"].get_volume("v1") is None


def test_own_stale_record_goes_even_when_the_image_stays(gws: Gateways) -> None:
    """The stale record is removed before the image: when Ceph then refuses the removal
    (a watcher elsewhere), the image is left as it was but without that record."""
    gws["a"].create_volume("v1", 4096)
    gws.fake.pools["rbd"][""]["v1"].metadata["targetd.export.gw-a"] = "{}"
    gws.fake.pools["rbd"][""]["v1"].watchers = 1  # e.g. a client mapped it by hand
    assert error(gws["a"].destroy_volume, "v1").code != 0
    assert gws["a"].get_volume("v1") is not None
    assert gws.records("v1") == set()
    assert not gws.fake.locks


def test_records_of_other_tools_are_ignored(gws: Gateways) -> None:
    gws["a"].create_volume("v1", 4096)
    meta = gws.fake.pools["rbd"][""]["v1"].metadata
    meta.update({"conf_rbd_cache": "false", "targetd.export.": "x", "targetd.exporter": "y"})
    gws["b"].destroy_volume("v1")  # none of those keys counts as a gateway's export
    assert gws["b"].get_volume("v1") is None


def test_a_change_on_a_blocks_the_same_image_on_b(gws: Gateways) -> None:
    """While a creates v1 (inside RBD.create), b's create/resize/destroy/copy onto/export
    of v1 fail at once with -1 and change nothing; another image is not held up."""
    seen: list[tuple[str, int, str]] = []

    def meanwhile_on_b(name: str | None) -> None:
        if name != "v1":
            return
        gws.fake.during_change = None
        for what, call, args in (
            ("create", gws["b"].create_volume, ("v1", 8192)),
            ("resize", gws["b"].resize_volume, ("v1", 8192)),
            ("destroy", gws["b"].destroy_volume, ("v1",)),
            ("copy", gws["b"].copy_volume, ("v0", "v1", None)),
            ("attach", gws["b"].attach, ("v1",)),
        ):
            e = error(call, *args)
            seen.append((what, e.code, e.message))
        gws["b"].create_volume("v2", 4096)  # another image: its own lock

    gws["a"].create_volume("v0", 4096)
    gws.fake.during_change = meanwhile_on_b
    gws["a"].create_volume("v1", 4096)
    assert [(w, c) for w, c, _ in seen] == [
        ("create", -1),
        ("resize", -1),
        ("destroy", -1),
        ("copy", -1),
        ("attach", -1),
    ]
    assert all("another targetd gateway is changing this image" in m for _, _, m in seen)
    assert {v.name: v.size for v in gws["a"].list_volumes()} == {"v0": 4096, "v1": 4096, "v2": 4096}
    assert gws.records("v1") == set() and not gws.fake.locks
    assert error(gws["b"].create_volume, "v1", 4096).code == -50  # after: the usual answer


def test_lock_of_a_crashed_gateway_expires(gws: Gateways) -> None:
    fake = gws.fake
    fake.locks[("rbd", "", "targetd.lock.v1")] = ("gw-a.1.dead", "create", fake.clock + 30)
    assert error(gws["b"].create_volume, "v1", 4096).code == -1
    fake.clock += 31
    gws["b"].create_volume("v1", 4096)
    assert gws["a"].get_volume("v1") is not None


def test_lock_object_goes_with_the_image(gws: Gateways) -> None:
    fake = gws.fake
    gws["a"].create_volume("v1", 4096)
    gws["a"].resize_volume("v1", 8192)
    assert fake.objects == {("rbd", "", "targetd.lock.v1")} and not fake.locks
    gws["b"].destroy_volume("v1")
    assert fake.objects == set() and not fake.locks
    assert fake.lock_calls[-1] == ("targetd.lock.v1", "remove", 0)


def test_refused_destroy_keeps_the_lock_object(gws: Gateways) -> None:
    gws["a"].create_volume("v1", 4096)
    gws["a"].attach("v1")
    assert error(gws["b"].destroy_volume, "v1").code == -303
    assert ("rbd", "", "targetd.lock.v1") in gws.fake.objects and not gws.fake.locks


def test_copy_onto_a_name_taken_meanwhile_leaves_the_other_image(gws: Gateways) -> None:
    gws["a"].create_volume("src", 4096)
    gws["b"].create_volume("dst", 8192)  # made after a's core looked (a race the lock
    assert error(gws["a"].copy_volume, "src", "dst", None).code == -50  # cannot close)
    assert gws["b"].get_volume("dst").size == 8192  # type: ignore[union-attr]


def test_lock_is_renewed_during_a_long_change(fake: FakeCluster) -> None:
    io = cl.bindings()[0].Rados("", "", {}).open_ioctx("rbd")
    with coordination.ChangeLock(cl.bindings()[0], io, "v1", "gw-a", "copy", "x", seconds=1):
        time.sleep(0.8)
    ops = [(op, flags) for _, op, flags in fake.lock_calls]
    assert ops[0] == ("lock", 0) and ops[-1] == ("unlock", 0)
    assert ("lock", coordination.LOCK_FLAG_RENEW) in ops[1:-1]
    assert not fake.locks


# -- the gateway id -------------------------------------------------------------------------


@given(st.text(max_size=70))
def test_any_text_is_a_plain_gateway_id_or_refused(text: str) -> None:
    try:
        gw = check_gateway_id(text)
    except ValueError as e:
        assert repr(text) in str(e)
        return
    assert GATEWAY_RE.fullmatch(gw) and len(gw) <= 63
    assert not gw.startswith((".", "-")) and "\n" not in gw and "/" not in gw
    assert coordination.export_key(gw).removeprefix(coordination.EXPORT_PREFIX) == gw


def test_gateway_id_config(tmp_path: Path, fake: FakeCluster, monkeypatch) -> None:  # noqa: ANN001
    problems = testing.startup_problems({"rbd_gateway_id": "gw a"}, ["rbd"], tmp_path / "1")
    assert any("rbd_gateway_id" in p for p in problems)
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "host name!")
    problems = testing.startup_problems({"rbd_pools": ["rbd"]}, ["rbd"], tmp_path / "2")
    assert any("rbd_gateway_id" in p and "host name" in p for p in problems)
    monkeypatch.setattr(socket, "gethostname", lambda: "gw-host.example")
    t = testing.build({"rbd_pools": ["rbd"]}, ["rbd"], tmp_path / "3")
    assert t.core.block_pools["rbd"].gateway == "gw-host.example"  # type: ignore[attr-defined]


# -- a property: any interleaving of two gateways' calls keeps the records true -------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "destroy", "resize", "attach", "detach", "copy"]),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["v1", "v2"]),
        st.booleans(),  # the other gateway tries the same call in the middle
    ),
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_records_follow_the_exports_whatever_the_interleaving(
    fake: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ops
) -> None:  # noqa: ANN001
    fake.pools["rbd"][""].clear()
    fake.locks.clear()
    fake.objects.clear()
    base = tmp_path / f"run{time.monotonic_ns()}"
    gws = Gateways(fake, base, monkeypatch)
    attached: dict[str, set[str]] = {}  # image -> gateways that attached it (the model)
    other = {"a": "b", "b": "a"}

    def call(gw: str, op: str, name: str) -> int:
        p = gws[gw]
        try:
            if op == "create":
                p.create_volume(name, 4096)
            elif op == "resize":
                p.resize_volume(name, 8192 + len(fake.lock_calls))
            elif op == "copy":
                p.copy_volume("v1" if name == "v2" else "v2", name, None)
            elif op == "attach":
                if p.get_volume(name) is None:
                    return -103  # the core's own check
                p.attach(name)
                attached.setdefault(name, set()).add(f"gw-{gw}")
            elif op == "detach":
                p.detach(name)
                attached.get(name, set()).discard(f"gw-{gw}")
            elif op == "destroy":
                if f"gw-{gw}" in attached.get(name, set()):
                    return -303  # the core: exported on this gateway
                p.destroy_volume(name)
                attached.pop(name, None)
        except TargetdError as e:
            return e.code
        return 0

    for op, gw, name, clash in ops:
        results: list[int] = []
        if clash:

            def meanwhile(_: str | None, gw=gw, op=op, name=name, results=results) -> None:  # noqa: ANN001
                fake.during_change = None
                results.append(call(other[gw], op, name))

            fake.during_change = meanwhile
        results.insert(0, call(gw, op, name))
        fake.during_change = None
        if len(results) == 2 and op in ("create", "destroy", "resize", "copy"):
            assert results.count(0) <= 1  # never both: one wins or both are refused
            assert -1 in results  # the one in the middle met the lock
        images = fake.pools["rbd"][""]
        assert not fake.locks  # every lock let go
        for image in images:
            assert gws.records(image) == attached.get(image, set()), (op, gw, name)
            assert images[image].watchers == len(attached.get(image, set()))
        for image in set(attached) - set(images):
            assert not attached[image]  # an exported image was never destroyed
