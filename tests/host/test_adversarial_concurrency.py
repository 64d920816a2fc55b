"""Concurrency: 8 clients x 50 mixed changes (btrfs file systems, snapshots, NFS
exports) at 1 and 4 workers: 0 lost, 0 duplicated, 0 5xx; and exactly one winner when
several clients create the same name at once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .adversarial import SEED, FsTarget, budget, fs_target, ours, seed_note

CLIENTS = 8
CHANGES = 50
RACES = 3


@dataclass
class Client:
    """One client's own objects: what it was told exists."""

    n: int
    fs: dict[str, str] = field(default_factory=dict)  # name -> uuid
    snapshots: set[tuple[str, str]] = field(default_factory=set)
    exports: set[str] = field(default_factory=set)  # fs names exported to our host
    http_errors: list[str] = field(default_factory=list)
    changes: int = 0

    @property
    def host(self) -> str:
        return f"192.0.2.{40 + self.n}"


def _rpc(t: FsTarget, s: requests.Session, method: str, **params: Any) -> dict[str, Any]:
    r = s.post(
        t.daemon.url,
        json={"jsonrpc": "2.0", "id": 0, "method": method, "params": params},
        auth=(t.daemon.user, t.daemon.password),
        timeout=300,
    )
    if r.status_code != 200:
        return {"http": r.status_code, "text": r.text[:200]}
    return r.json()


def _work(t: FsTarget, c: Client, rng: random.Random) -> None:
    s = requests.Session()
    i = 0

    def ok(method: str, **params: Any) -> dict[str, Any]:
        c.changes += 1
        reply = _rpc(t, s, method, **params)
        if "http" in reply:
            c.http_errors.append(f"{method}: HTTP {reply['http']} {reply['text']}")
        elif "error" in reply:
            c.http_errors.append(f"{method} {params}: {reply['error']}")
        return reply

    while c.changes < CHANGES:
        action = rng.choice(["create", "create", "snapshot", "export", "unexport", "destroy"])
        if action == "create" or not c.fs:
            name = f"k{c.n}x{i}"
            i += 1
            if "result" in ok("fs_create", pool_name=str(t.mnt), name=name, size_bytes=0):
                (fs,) = [f for f in _rpc(t, s, "fs_list")["result"] if f["name"] == name] or [
                    {"uuid": "?"}
                ]
                c.fs[name] = fs["uuid"]
            continue
        name = rng.choice(sorted(c.fs))
        path = str(t.mnt / "targetd_fs" / name)
        if action == "snapshot":
            ss = f"s{i}"
            i += 1
            if "result" in ok("fs_snapshot", fs_uuid=c.fs[name], dest_ss_name=ss):
                c.snapshots.add((name, ss))
        elif action == "export":
            if "result" in ok("nfs_export_add", host=c.host, path=path, options=["rw"]):
                c.exports.add(name)
        elif action == "unexport" and name in c.exports:
            if "result" in ok("nfs_export_remove", host=c.host, path=path):
                c.exports.discard(name)
        elif action == "destroy" and name not in c.exports:
            if "result" in ok("fs_destroy", uuid=c.fs[name]):
                del c.fs[name]
                c.snapshots = {x for x in c.snapshots if x[0] != name}


def _check(t: FsTarget, clients: list[Client]) -> str:
    listed = t.call("fs_list")
    names = Counter(f["name"] for f in listed)
    dup_fs = [n for n, k in names.items() if k > 1]
    expected_fs = {n for c in clients for n in c.fs}
    lost_fs = sorted(expected_fs - set(names))
    extra_fs = sorted(set(names) - expected_fs)
    by_name = {f["name"]: f for f in listed}
    ss = Counter(
        (f["name"], s["name"]) for f in listed for s in t.call("ss_list", fs_uuid=f["uuid"])
    )
    expected_ss = {x for c in clients for x in c.snapshots}
    exports = Counter(
        (e["host"], e["path"]) for e in t.call("nfs_export_list") if ours(e["path"], t.roots)
    )
    expected_exports = {(c.host, str(t.mnt / "targetd_fs" / n)) for c in clients for n in c.exports}
    report = {
        "errors": [e for c in clients for e in c.http_errors],
        "fs duplicated": dup_fs,
        "fs lost": lost_fs,
        "fs unexpected": extra_fs,
        "fs uuid changed": [
            n for c in clients for n, u in c.fs.items() if by_name.get(n, {}).get("uuid", u) != u
        ],
        "snapshots duplicated": [x for x, k in ss.items() if k > 1],
        "snapshots lost": sorted(expected_ss - set(ss)),
        "snapshots unexpected": sorted(set(ss) - expected_ss),
        "exports duplicated": [x for x, k in exports.items() if k > 1],
        "exports lost": sorted(expected_exports - set(exports)),
        "exports unexpected": sorted(set(exports) - expected_exports),
        "host disagrees": t.problems(),
    }
    bad = {k: v for k, v in report.items() if v}
    assert not bad, f"{bad} {seed_note()}"
    return f"{sum(c.changes for c in clients)} changes, {len(listed)} fs, {len(ss)} snapshots"


def _race(t: FsTarget, method: str, params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same call from 8 clients released together."""
    barrier = threading.Barrier(len(params))
    sessions = [requests.Session() for _ in params]

    def one(k: int) -> dict[str, Any]:
        barrier.wait(30)
        return _rpc(t, sessions[k], method, **params[k])

    with ThreadPoolExecutor(len(params)) as pool:
        return list(pool.map(one, range(len(params))))


def _one_winner(replies: list[dict[str, Any]], loser_code: int, what: str) -> None:
    wins = [r for r in replies if "result" in r]
    codes = Counter(r["error"]["code"] for r in replies if "error" in r)
    http = [r for r in replies if "http" in r]
    assert not http and len(wins) == 1 and codes == {loser_code: len(replies) - 1}, (
        f"{what}: {len(wins)} winners, errors {dict(codes)}, HTTP {http} {seed_note()}"
    )


@pytest.fixture(params=[1, 4], ids=["1-worker", "4-workers"])
def busy_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FsTarget]:
    with fs_target(tmp_path, workers=request.param) as t:
        yield t


def test_8_clients_50_changes_nothing_lost_or_duplicated(busy_target: FsTarget) -> None:
    t = busy_target
    rng = random.Random(SEED)
    clients = [Client(n) for n in range(CLIENTS)]
    rngs = [random.Random(rng.random()) for _ in clients]
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda k: _work(t, clients[k], rngs[k]), range(CLIENTS)))
    print(f"concurrency: {_check(t, clients)}")


def test_same_name_at_once_has_exactly_one_winner(busy_target: FsTarget) -> None:
    t = busy_target
    pool = str(t.mnt)
    for r in range(budget(RACES)):
        name = f"race{r}"
        replies = _race(t, "fs_create", [{"pool_name": pool, "name": name, "size_bytes": 0}] * 8)
        _one_winner(replies, -53, f"fs_create {name}")
        (fs,) = [f for f in t.call("fs_list") if f["name"] == name]
        replies = _race(t, "fs_snapshot", [{"fs_uuid": fs["uuid"], "dest_ss_name": "s"}] * 8)
        _one_winner(replies, -53, f"fs_snapshot {name}/s")
        replies = _race(t, "fs_clone", [{"fs_uuid": fs["uuid"], "dest_fs_name": f"{name}c"}] * 8)
        _one_winner(replies, -51, f"fs_clone {name}c")
        path = fs["full_path"]
        replies = _race(
            t, "nfs_export_add", [{"host": "192.0.2.60", "path": path, "options": ["rw"]}] * 8
        )
        assert all("result" in x for x in replies), replies  # the same export: idempotent
        replies = _race(t, "nfs_export_remove", [{"host": "192.0.2.60", "path": path}] * 8)
        _one_winner(replies, -400, f"nfs_export_remove {path}")
        replies = _race(t, "fs_destroy", [{"uuid": fs["uuid"]}] * 8)
        _one_winner(replies, -104, f"fs_destroy {name}")
    problems = t.problems()
    assert not problems, problems
