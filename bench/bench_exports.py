#!/usr/bin/env python3
"""Benchmark of iSCSI exports against the appliance (the reference figures' measurements).

    contrib/appliance run -- .venv/bin/python bench/bench_exports.py [--sizes 1,100,500,2000]

Like the reference daemon's measurements (bench/README.md): 100 MiB thin volumes in
vg-targetd/thin_pool, each exported to its own initiator at LUN 0. For each size N it
times ``export_list`` (median of 3) and the cycle vol_create + export_create +
export_destroy + vol_destroy of one more volume (median of 3), and reports export_create
of the first 10 volumes and of the last 10 before each size (each timed alone), and each
of the cycle's four calls (median of the three cycles). Each figure is one call's wall
time as the client sees it (the host, over HTTPS through QEMU's port forward; the
reference client ran inside the guest over plain HTTP).

With TARGETD_APPLIANCE_DIR set (``contrib/appliance run`` sets it) it also times, inside
the guest, what LVM alone costs at that size: one ``lvs`` of the VG, one ``lvs`` selecting
one LV (what targetd ran to look a volume up before it read device-mapper's sysfs), and
``lvcreate`` and ``lvremove`` of a thin volume, each timed alone, so the growth of the
cycle's vol_create and vol_destroy can be set against LVM's own.

Filling the array is the slow part (under TCG ~0.5 s per vol_create, LVM's own cost):
volumes and exports in between the timed ones are made in JSON-RPC batches (16 calls in
one request), and the sizes build on each other. ``--no-cleanup`` skips removing
everything at the end (for a VM that is thrown away anyway: ``contrib/appliance run``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.realkernel.client import RPCClient  # noqa: E402

POOL = "vg-targetd/thin_pool"
VG, THIN = "vg-targetd", "thin_pool"
SIZE = 100 << 20
BATCH = 16
REFERENCE = {  # reference daemon, same VM kind
    "export_list": {1: 0.23, 10: 2.17, 50: 11.8, 100: 23.3, 250: 77.0},
    "cycle": {100: 8.5},
}


def timed(fn, *args, **kwargs) -> float:
    t = time.monotonic()
    fn(*args, **kwargs)
    return time.monotonic() - t


def guest_seconds(script: str, reps: int = 3, before: str = ":", after: str = ":") -> float | None:
    """Median wall time of a shell snippet measured inside the guest (None without one);
    ``before`` and ``after`` run around each timed run, untimed."""
    if not os.environ.get("TARGETD_APPLIANCE_DIR"):
        return None
    from tests.realkernel.appliance import guest_exec

    timed_script = (
        f"{{ {before}; }} >/dev/null 2>&1; s=$(date +%s.%N); {{ {script}; }} >/dev/null 2>&1; "
        f'e=$(date +%s.%N); {{ {after}; }} >/dev/null 2>&1; python3 -c "print($e - $s)"'
    )
    runs = (guest_exec(timed_script).stdout.split()[-1] for _ in range(reps))
    return statistics.median(float(x) for x in runs)


#: export_list's kernel work, timed inside the guest with targetd's own code: the configfs
#: pass (every ACL, its mapped LUNs, every TPG LUN's link) and a size read of each
#: exported device; the rest of export_list's time is Python, JSON and the round trip.
#: The pass timed is a second one, as in a daemon that has listed before (the first lists
#: every ACL: no hint yet, see targetd_lio/cfs.py)
LISTING_PARTS = """
import glob, json, os, time
from targetd_core.plugin import device_size
from targetd_lio.cfs import Configfs
cfs = Configfs(os.path.basename(glob.glob("/sys/kernel/config/target/iscsi/iqn*")[0]))
cfs.read(tags=False)
t0 = time.monotonic()
view = cfs.read(tags=False)
t1 = time.monotonic()
devices = [cfs.backstore_device(lun.hba, lun.name) for lun in view.luns.values()]
t2 = time.monotonic()
sizes = [device_size(d) for d in devices]
t3 = time.monotonic()
print(json.dumps([t1 - t0, t3 - t2, t2 - t1, len(view.acls), len(view.luns)]))
"""


def guest_listing_parts() -> list[float] | None:
    """[configfs pass, device sizes, backstore device reads, ACLs, LUNs] in the guest."""
    if not os.environ.get("TARGETD_APPLIANCE_DIR"):
        return None
    from tests.realkernel.appliance import guest_exec

    cmd = ["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c", LISTING_PARTS]
    runs = [json.loads(guest_exec(cmd).stdout.strip().splitlines()[-1]) for _ in range(3)]
    return [statistics.median(r[i] for r in runs) for i in range(5)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100,500,2000")
    ap.add_argument("--no-cleanup", action="store_true", help="leave everything made")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    env = os.environ
    c = RPCClient(env["TARGETD_URL"], env["TARGETD_USER"], env["TARGETD_PASSWORD"],
                  env["TARGETD_CA"], timeout=900)  # fmt: skip
    rpc = c.call
    run = uuid.uuid4().hex[:6]
    made: list[tuple[str, str]] = []  # (volume, initiator), exported
    create_times: dict[int, float] = {}  # index -> export_create seconds, timed alone
    rows = []
    listing_parts: dict[int, list[float]] = {}
    splits: dict[int, tuple[list[float], float | None, float | None]] = {}

    def batch(calls: list[tuple[str, dict]]) -> None:
        for start in range(0, len(calls), BATCH):
            part = calls[start : start + BATCH]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(part)
            ]
            status, _, data = c.post(json.dumps(body).encode())
            assert status == 200, f"batch: HTTP {status}: {data[:300]!r}"
            errors = [r["error"] for r in json.loads(data) if "error" in r]
            if errors:
                raise RuntimeError(f"batch: {len(errors)} of {len(part)} failed: {errors[0]}")

    def names(i: int) -> tuple[str, str]:
        return f"bench-{run}-{i}", f"iqn.1994-05.org.example.bench:{run}-{i}"

    def add_timed() -> None:
        i = len(made)
        name, wwn = names(i)
        rpc("vol_create", pool=POOL, name=name, size=SIZE)
        create_times[i] = timed(rpc, "export_create", pool=POOL, vol=name, initiator_wwn=wwn,
                                lun=0)  # fmt: skip
        made.append((name, wwn))

    def add_batched(count: int) -> None:
        while count > 0:
            todo = [names(len(made) + k) for k in range(min(count, 4 * BATCH))]
            batch([("vol_create", {"pool": POOL, "name": n, "size": SIZE}) for n, _ in todo])
            batch([("export_create", {"pool": POOL, "vol": n, "initiator_wwn": w, "lun": 0})
                   for n, w in todo])  # fmt: skip
            made.extend(todo)
            count -= len(todo)

    def fill(n: int) -> None:
        while len(made) < min(n, 10):  # the first 10, timed
            add_timed()
        if n - len(made) > 10:
            add_batched(n - 10 - len(made))
        while len(made) < n:  # the last 10 before this size, timed
            add_timed()

    def cycle() -> list[float]:
        """The cycle's four calls, each timed: [vol_create, export_create,
        export_destroy, vol_destroy]."""
        name, wwn = f"bench-{run}-cycle", f"iqn.1994-05.org.example.bench:{run}-cycle"
        return [
            timed(rpc, "vol_create", pool=POOL, name=name, size=SIZE),
            timed(rpc, "export_create", pool=POOL, vol=name, initiator_wwn=wwn, lun=0),
            timed(rpc, "export_destroy", pool=POOL, vol=name, initiator_wwn=wwn),
            timed(rpc, "vol_destroy", pool=POOL, name=name),
        ]

    def report() -> None:
        print("| exports | export_list s | (reference) | cycle s | (reference) | vol_list s "
              "| guest lvs s | guest lvs of one LV s | guest lvcreate+lvremove s |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n, lt, ct, vl, glvs, gone, gcycle in rows:
            ref_l = REFERENCE["export_list"].get(n, "")
            ref_c = REFERENCE["cycle"].get(n, "")
            g = [f"{x:.3f}" if x is not None else "-" for x in (glvs, gone, gcycle)]
            print(f"| {n} | {lt:.3f} | {ref_l} | {ct:.3f} | {ref_c} | {vl:.3f} | {g[0]} | "
                  f"{g[1]} | {g[2]} |")  # fmt: skip
        if listing_parts:
            print()
            print("| exports | export_list s | guest: configfs pass s | guest: device sizes s |")
            print("| --- | --- | --- | --- |")
            for n, lt, *_ in rows:
                if n in listing_parts:
                    p = listing_parts[n]
                    print(f"| {n} | {lt:.3f} | {p[0]:.3f} | {p[1]:.3f} |")
            print()
        if splits:
            print("| exports | vol_create s | export_create s | export_destroy s | vol_destroy s "
                  "| guest lvcreate s | guest lvremove s |")  # fmt: skip
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for n, (split, gc, gr) in sorted(splits.items()):
                g = [f"{x:.3f}" if x is not None else "-" for x in (gc, gr)]
                print(f"| {n} | " + " | ".join(f"{x:.3f}" for x in split) + f" | {g[0]} | {g[1]} |")
            print()
        first = [create_times[i] for i in range(10) if i in create_times]
        if len(first) == 10:
            f = statistics.mean(first)
            for n in sizes:
                last = [create_times[i] for i in range(n - 10, n) if i in create_times]
                if n >= 20 and len(last) == 10:
                    m = statistics.mean(last)
                    print(f"export_create mean: first 10 {f:.3f} s, last 10 of {n} {m:.3f} s "
                          f"(ratio {m / f:.2f})")  # fmt: skip

    try:
        for n in sizes:
            t0 = time.monotonic()
            fill(n)
            print(f"[{n} exports set up in {time.monotonic() - t0:.0f} s]", file=sys.stderr)
            listing = []
            lt = []
            for _ in range(3):
                t = time.monotonic()
                listing = rpc("export_list")
                lt.append(time.monotonic() - t)
            assert len([e for e in listing if e["vol_name"].startswith(f"bench-{run}-")]) == n
            vl = statistics.median(timed(rpc, "vol_list", pool=POOL) for _ in range(3))
            calls = [cycle() for _ in range(3)]
            ct = [sum(c) for c in calls]
            # each call's median, beside LVM's own lvcreate and lvremove in the guest
            split = [statistics.median(c[i] for c in calls) for i in range(4)]
            glvs = guest_seconds(f"lvs {VG}")
            # what targetd's look-up of one volume costs LVM (export_create, vol_destroy)
            gone = guest_seconds(f"lvs -S lv_name={names(0)[0]} {VG}")
            gcreate = guest_seconds(
                f"lvcreate -y -q -V 100m -T {VG}/{THIN} -n bench-{run}-bare",
                after=f"lvremove -f -q {VG}/bench-{run}-bare",
            )
            gremove = guest_seconds(
                f"lvremove -f -q {VG}/bench-{run}-bare",
                before=f"lvcreate -y -q -V 100m -T {VG}/{THIN} -n bench-{run}-bare",
            )
            gcycle = None if gcreate is None or gremove is None else gcreate + gremove
            print(f"[{n}: the cycle's calls (median s): vol_create {split[0]:.3f}, "
                  f"export_create {split[1]:.3f}, export_destroy {split[2]:.3f}, "
                  f"vol_destroy {split[3]:.3f}; guest lvcreate {gcreate}, "
                  f"lvremove {gremove}]", file=sys.stderr, flush=True)  # fmt: skip
            splits[n] = (split, gcreate, gremove)
            parts = guest_listing_parts()
            if parts is not None:
                print(f"[{n}: in the guest, export_list's configfs pass {parts[0]:.3f} s "
                      f"({parts[3]:.0f} ACLs, {parts[4]:.0f} LUNs), device sizes "
                      f"{parts[1]:.3f} s, backstore device reads (cached by the daemon) "
                      f"{parts[2]:.3f} s]", file=sys.stderr, flush=True)  # fmt: skip
                listing_parts[n] = parts
            rows.append((n, statistics.median(lt), statistics.median(ct), vl, glvs, gone, gcycle))
            last = [create_times[i] for i in range(max(n - 10, 0), n) if i in create_times]
            print(f"[{n}: export_create of the last {len(last)} {last}]", file=sys.stderr)
            print(f"[{n}: export_list {lt} cycle {ct} vol_list {vl} guest lvs {glvs} "
                  f"guest lvs of one LV {gone} guest lvcreate+lvremove {gcycle}]",
                  file=sys.stderr, flush=True)  # fmt: skip
        report()
        sys.stdout.flush()
    finally:
        if not args.no_cleanup:
            t0 = time.monotonic()
            try:
                batch([("export_destroy", {"pool": POOL, "vol": n, "initiator_wwn": w})
                       for n, w in made])  # fmt: skip
                batch([("vol_destroy", {"pool": POOL, "name": n}) for n, _ in made])
            except Exception as exc:  # noqa: BLE001
                print(f"cleanup: {exc}", file=sys.stderr)
            print(f"[cleanup {time.monotonic() - t0:.0f} s]", file=sys.stderr)
        c.close()

    return 0


if __name__ == "__main__":
    sys.exit(main())
