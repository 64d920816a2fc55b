"""Crash consistency: kill -9 of the daemon (master and workers at once) and of one
worker, in the middle of a stream of changing calls (btrfs file systems, snapshots,
NFS exports), then restart and check: no half-made object is visible, targetd's exports
file and the host agree, every call answered with success is there, nothing answered
as failed is there. A call that was in flight when the process died may have happened
or not; nothing else may be uncertain.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .adversarial import SEED, FsTarget, budget, fs_target, ours, seed_note

ROUNDS = 3  # kill -9 of the whole daemon, then a restart
CLIENTS = 2
HOSTS = ["192.0.2.30", "192.0.2.31", "192.0.2.0/28"]


@dataclass
class Outcome:
    method: str
    params: dict[str, Any]
    result: str  # "ok", an error code, or "lost" (no answer: the process died)


def _after(result: str, if_ok: bool, before: bool | None) -> bool | None:
    """What must exist after a call: ``if_ok`` when it answered success, unknown (None)
    when its answer was lost in a kill, unchanged when it failed."""
    return if_ok if result == "ok" else None if result == "lost" else before


@dataclass
class Ledger:
    """Every changing call a client made, in order, with what it was answered."""

    calls: list[Outcome] = field(default_factory=list)

    def expected(
        self, mnt: Path
    ) -> tuple[dict[str, bool | None], dict[tuple[str, str], bool | None]]:
        """For each fs name and each (host, path) export: True (must exist), False (must
        not), None (the call that decides was lost)."""
        fs: dict[str, bool | None] = {}
        exports: dict[tuple[str, str], bool | None] = {}
        for c in self.calls:
            if c.method == "fs_create":
                name = c.params["name"]
                fs[name] = _after(c.result, True, fs.get(name, False))
            elif c.method == "fs_destroy":
                name = c.params["name"]
                fs[name] = _after(c.result, False, fs.get(name))
                path = str(mnt / "targetd_fs" / name)
                for key in list(exports):
                    if key[1] == path:
                        # an fs's exports go with it (finding 4), or the destroy is refused
                        exports[key] = _after(c.result, False, exports[key])
            elif c.method == "nfs_export_add":
                key = (c.params["host"], c.params["path"])
                exports[key] = _after(c.result, True, exports.get(key, False))
            elif c.method == "nfs_export_remove":
                key = (c.params["host"], c.params["path"])
                exports[key] = _after(c.result, False, exports.get(key))
        return fs, exports


def _post(session: requests.Session, t: FsTarget, method: str, params: dict[str, Any]) -> str:
    try:
        r = session.post(
            t.daemon.url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            auth=(t.daemon.user, t.daemon.password),
            timeout=60,
        )
    except requests.RequestException:
        return "lost"
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:300]}"
    reply = r.json()
    return "ok" if "result" in reply else str(reply["error"]["code"])


def _client(
    t: FsTarget, prefix: str, ledger: Ledger, stop: threading.Event, rng: random.Random
) -> None:
    """Create, export, snapshot; sometimes unexport and destroy; until the daemon dies."""
    session = requests.Session()
    i = 0
    while not stop.is_set():
        name = f"{prefix}{i}"
        i += 1
        path = str(t.mnt / "targetd_fs" / name)
        host = rng.choice(HOSTS)
        steps: list[tuple[str, dict[str, Any]]] = [
            (
                "fs_create",
                {"pool_name": str(t.mnt), "name": name, "size_bytes": rng.choice([0, 32 << 20])},
            ),
            ("nfs_export_add", {"host": host, "path": path, "options": ["rw"]}),
            ("fs_snapshot", {"name": name, "dest_ss_name": "s"}),
        ]
        if rng.random() < 0.5:
            steps += [
                ("nfs_export_remove", {"host": host, "path": path}),
                ("fs_destroy", {"name": name}),
            ]
        for method, params in steps:
            sent = dict(params)
            if method in ("fs_snapshot", "fs_destroy"):
                uuid = _uuid(t, session, params["name"])
                if uuid is None:
                    return  # the daemon is gone
                sent = (
                    {"fs_uuid": uuid, "dest_ss_name": "s"}
                    if method == "fs_snapshot"
                    else {"uuid": uuid}
                )
            result = _post(session, t, method, sent)
            ledger.calls.append(Outcome(method, params, result))
            if result == "lost":
                return
            if result != "ok":
                break


def _uuid(t: FsTarget, session: requests.Session, name: str) -> str | None:
    try:
        r = session.post(
            t.daemon.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "fs_list"},
            auth=(t.daemon.user, t.daemon.password),
            timeout=60,
        )
        fss = r.json()["result"]
    except (requests.RequestException, KeyError, ValueError):
        return None
    return next((f["uuid"] for f in fss if f["name"] == name), "missing")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def kill_daemon(t: FsTarget) -> None:
    """kill -9 of the master and every worker at once (a power cut for the daemon)."""
    master = t.daemon.proc.pid
    os.kill(master, signal.SIGSTOP)  # it must not start new workers meanwhile
    for pid in _children(master):
        os.kill(pid, signal.SIGKILL)
    os.kill(master, signal.SIGKILL)
    t.daemon.proc.wait(30)
    deadline = time.monotonic() + 30
    while _alive_workers(master) and time.monotonic() < deadline:
        time.sleep(0.1)


def _alive_workers(master: int) -> bool:
    try:
        return bool(_children(master))
    except OSError:
        return False


def check_after(t: FsTarget, ledgers: list[Ledger], what: str) -> None:
    problems = t.problems()
    assert not problems, f"{what}: {problems} {seed_note()}"
    fs_list = {f["name"]: f for f in t.call("fs_list")}
    listed_fs = set(fs_list)
    listed_exports = {
        (e["host"], e["path"]) for e in t.call("nfs_export_list") if ours(e["path"], t.roots)
    }
    for ledger in ledgers:
        fs, exports = ledger.expected(t.mnt)
        for name, must in fs.items():
            if must is not None:
                assert (name in listed_fs) == must, (
                    f"{what}: fs {name!r} answered {'created' if must else 'not there'} but "
                    f"{'missing' if must else 'present'}; calls: "
                    f"{[c for c in ledger.calls if c.params.get('name') == name]} {seed_note()}"
                )
        for c in ledger.calls:
            # a file system made with a quota has it, even if its creation was cut short
            name, quota = c.params.get("name"), c.params.get("size_bytes")
            if c.method == "fs_create" and quota and name in fs_list and c.result in ("ok", "lost"):
                assert fs_list[name]["total_space"] == quota, (
                    f"{what}: half-made fs {name!r}: {fs_list[name]} (quota {quota}) {seed_note()}"
                )
        for key, must in exports.items():
            if must is not None:
                assert (key in listed_exports) == must, (
                    f"{what}: export {key} answered {'made' if must else 'removed'} but "
                    f"{'missing' if must else 'present'} {seed_note()}"
                )


def _stream(t: FsTarget, rng: random.Random, prefix: str, kill: Any) -> list[Ledger]:
    ledgers = [Ledger() for _ in range(CLIENTS)]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_client,
            args=(t, f"{prefix}c{i}n", ledgers[i], stop, random.Random(rng.random())),
            daemon=True,
        )
        for i in range(CLIENTS)
    ]
    for th in threads:
        th.start()
    time.sleep(rng.uniform(0.5, 2.5))
    kill()
    time.sleep(0.5)
    stop.set()
    for th in threads:
        th.join(120)
    assert not any(th.is_alive() for th in threads)
    return ledgers


@pytest.fixture()
def crash_target(tmp_path: Path) -> Iterator[FsTarget]:
    with fs_target(tmp_path) as t:
        yield t


def test_kill_9_of_the_daemon_during_changes(crash_target: FsTarget) -> None:
    t = crash_target
    rng = random.Random(SEED)
    all_ledgers: list[Ledger] = []
    for r in range(budget(ROUNDS)):
        ledgers = _stream(t, rng, f"r{r}", lambda: kill_daemon(t))
        all_ledgers += ledgers
        assert sum(len(x.calls) for x in ledgers) > 0
        t.restart()
        check_after(t, all_ledgers, f"after kill -9 and restart, round {r}")
    calls = sum(len(x.calls) for x in all_ledgers)
    lost = sum(c.result == "lost" for x in all_ledgers for c in x.calls)
    print(f"crash: {budget(ROUNDS)} kills, {calls} changing calls, {lost} in flight at a kill")


def test_kill_9_of_one_worker_during_changes(crash_target: FsTarget) -> None:
    t = crash_target
    rng = random.Random(SEED + 1)

    def kill_one_worker() -> None:
        workers = _children(t.daemon.proc.pid)
        assert workers, "no worker to kill"
        os.kill(rng.choice(workers), signal.SIGKILL)

    ledgers = _stream(t, rng, "w", kill_one_worker)
    # the master starts a new worker; the daemon goes on serving without a restart
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            t.call("pool_list")
            break
        except (requests.RequestException, AssertionError):
            time.sleep(0.2)
    check_after(t, ledgers, "after kill -9 of one worker")
    t.restart()
    check_after(t, ledgers, "after a restart that followed the worker's death")
