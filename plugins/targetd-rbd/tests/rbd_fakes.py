"""Fakes of Ceph's ``rados`` and ``rbd`` Python modules: the subset targetd-rbd uses, over
an in-memory cluster. For the plugin's own logic only; whether Ceph and kernel RBD do
what we ask is tested in tests/gateways/test_rbd_pool.py."""

from __future__ import annotations

import itertools
import json
import types
from dataclasses import dataclass, field
from typing import Any


class _Err(Exception):
    pass


def make_modules() -> tuple[types.SimpleNamespace, types.SimpleNamespace, FakeCluster]:
    rados = types.SimpleNamespace()
    rados.Error = type("Error", (_Err,), {})
    rados.ObjectNotFound = type("ObjectNotFound", (rados.Error,), {})
    rados.TimedOut = type("TimedOut", (rados.Error,), {})
    rados.ObjectBusy = type("ObjectBusy", (rados.Error,), {})
    rados.ObjectExists = type("ObjectExists", (rados.Error,), {})
    rbd = types.SimpleNamespace()
    rbd.Error = type("Error", (_Err,), {})
    for name in ("ImageNotFound", "ImageExists", "ImageBusy", "ImageHasSnapshots"):
        setattr(rbd, name, type(name, (rbd.Error,), {}))
    cluster = FakeCluster(rados, rbd)
    rados.Rados = cluster.rados
    rbd.RBD = lambda: FakeRBD(cluster)
    rbd.Image = cluster.image
    return rados, rbd, cluster


@dataclass
class FakeImage:
    id: str
    size: int
    data: bytes = b""
    watchers: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeCluster:
    rados_mod: Any
    rbd_mod: Any
    fsid: str = "00000000-1111-2222-3333-444444444444"
    pools: dict[str, dict[str, dict[str, FakeImage]]] = field(
        default_factory=lambda: {"rbd": {"": {}}}
    )
    connects: int = 0
    down: bool = False
    fail_deep_copy: bool = False
    unreported: set[str] = field(default_factory=set)  # pools the manager has no usage of
    ids: Any = field(default_factory=lambda: itertools.count(0x1000))
    last_conf: dict[str, str] = field(default_factory=dict)
    #: (pool, namespace, object) -> (cookie, description, expiry on ``clock``)
    locks: dict[tuple[str, str, str], tuple[str, str, float]] = field(default_factory=dict)
    objects: set[tuple[str, str, str]] = field(default_factory=set)
    clock: float = 0.0  # the cluster's time, moved by tests (lock expiry)
    lock_calls: list[tuple[str, str, int]] = field(default_factory=list)  # (object, op, flags)
    #: called with the image name inside every create/remove/resize: a test's hook to act
    #: as another gateway in the middle of a change
    during_change: Any = None

    def rados(self, conffile: str, rados_id: str, conf: dict[str, str]) -> FakeRados:
        self.last_conf = {"conffile": conffile, "rados_id": rados_id, **conf}
        return FakeRados(self)

    def images(self, io: FakeIoctx) -> dict[str, FakeImage]:
        return self.pools[io.pool].setdefault(io.namespace, {})

    def image(self, io: FakeIoctx, name: str, read_only: bool = False) -> FakeImageHandle:
        img = self.images(io).get(name)
        if img is None:
            raise self.rbd_mod.ImageNotFound(f"[errno 2] RBD image not found ({name})")
        return FakeImageHandle(self, io, img, read_only)


class FakeRados:
    def __init__(self, cluster: FakeCluster) -> None:
        self.c = cluster

    def connect(self, timeout: int) -> None:
        if self.c.down:
            raise self.c.rados_mod.TimedOut("[errno 110] connecting")
        self.c.connects += 1

    def shutdown(self) -> None:
        pass

    def get_fsid(self) -> str:
        return self.c.fsid

    def open_ioctx(self, pool: str) -> FakeIoctx:
        if pool not in self.c.pools:
            raise self.c.rados_mod.ObjectNotFound(f"pool {pool}")
        return FakeIoctx(pool, cluster=self.c)

    def pool_lookup(self, pool: str) -> int | None:
        return list(self.c.pools).index(pool) + 1 if pool in self.c.pools else None

    def mon_command(self, cmd: str, inbuf: bytes, timeout: int = 0) -> tuple[int, bytes, str]:
        c = json.loads(cmd)
        assert c == {"prefix": "df", "format": "json"}
        pools = [
            {"name": n, "id": i + 1, "stats": {"stored": 1000, "max_avail": 9000}}
            for i, n in enumerate(self.c.pools)
            if n not in self.c.unreported
        ]
        return 0, json.dumps({"pools": pools}).encode(), ""


@dataclass
class FakeIoctx:
    """cls_lock's exclusive lock as RADOS has it: taking it creates the object; a holder
    is told apart by its cookie (each ChangeLock has its own); an expired lock is free."""

    pool: str
    namespace: str = ""
    cluster: Any = None

    def set_namespace(self, ns: str) -> None:
        self.namespace = ns

    def close(self) -> None:
        pass

    def _key(self, obj: str) -> tuple[str, str, str]:
        return (self.pool, self.namespace, obj)

    def lock_exclusive(
        self,
        key: str,
        name: str,
        cookie: str,
        desc: str = "",
        duration: int | None = None,
        flags: int = 0,
    ) -> None:
        c = self.cluster
        c.lock_calls.append((key, "lock", flags))
        assert name == "targetd" and duration
        held = c.locks.get(self._key(key))
        if held is not None and held[2] > c.clock:
            if held[0] != cookie:
                raise c.rados_mod.ObjectBusy(f"[errno 16] lock {key}")
            if not flags & 1:
                raise c.rados_mod.ObjectExists(f"[errno 17] lock {key}")
        c.objects.add(self._key(key))
        c.locks[self._key(key)] = (cookie, desc, c.clock + duration)

    def unlock(self, key: str, name: str, cookie: str) -> None:
        c = self.cluster
        c.lock_calls.append((key, "unlock", 0))
        held = c.locks.get(self._key(key))
        if held is None or held[0] != cookie:
            raise c.rados_mod.ObjectNotFound(f"[errno 2] lock {key}")
        del c.locks[self._key(key)]

    def remove_object(self, key: str) -> None:
        c = self.cluster
        c.lock_calls.append((key, "remove", 0))
        if self._key(key) not in c.objects:
            raise c.rados_mod.ObjectNotFound(f"[errno 2] {key}")
        c.objects.discard(self._key(key))
        c.locks.pop(self._key(key), None)


class FakeRBD:
    def __init__(self, cluster: FakeCluster) -> None:
        self.c = cluster

    def list(self, io: FakeIoctx) -> list[str]:
        return list(self.c.images(io))

    def create(self, io: FakeIoctx, name: str, size: int, old_format: bool = True) -> None:
        assert old_format is False
        imgs = self.c.images(io)
        if self.c.during_change:
            self.c.during_change(name)
        if name in imgs:
            raise self.c.rbd_mod.ImageExists(name)
        imgs[name] = FakeImage(f"{next(self.c.ids):x}", size)

    def remove(self, io: FakeIoctx, name: str) -> None:
        imgs = self.c.images(io)
        if self.c.during_change:
            self.c.during_change(name)
        if name not in imgs:
            raise self.c.rbd_mod.ImageNotFound(name)
        if imgs[name].watchers:
            raise self.c.rbd_mod.ImageBusy(name)
        del imgs[name]


class FakeImageHandle:
    def __init__(
        self, cluster: FakeCluster, io: FakeIoctx, img: FakeImage, read_only: bool = False
    ) -> None:
        self.c, self.io, self.img, self.read_only = cluster, io, img, read_only

    def __enter__(self) -> FakeImageHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def size(self) -> int:
        return self.img.size

    def id(self) -> str:
        return self.img.id

    def resize(self, size: int, allow_shrink: bool = True) -> None:
        assert allow_shrink is False and size >= self.img.size
        if self.c.during_change:
            self.c.during_change(None)
        self.img.size = size

    def _gone(self) -> bool:
        return all(self.img is not i for i in self.c.images(self.io).values())

    def metadata_list(self) -> list[tuple[str, str]]:
        return sorted(self.img.metadata.items())

    def metadata_set(self, key: str, value: str) -> None:
        assert not self.read_only
        if self._gone():
            raise self.c.rbd_mod.ImageNotFound("image removed")
        self.img.metadata[key] = value

    def metadata_remove(self, key: str) -> None:
        assert not self.read_only
        if key not in self.img.metadata:
            raise KeyError(key)
        del self.img.metadata[key]

    def deep_copy(self, io: FakeIoctx, name: str) -> None:
        imgs = self.c.images(io)
        if name in imgs:
            raise self.c.rbd_mod.ImageExists(name)
        imgs[name] = FakeImage(f"{next(self.c.ids):x}", self.img.size, self.img.data)
        if self.c.fail_deep_copy:  # a copy that failed half-way: the image exists
            raise self.c.rbd_mod.Error("[errno 5] deep copy failed")
