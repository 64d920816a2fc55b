#!/usr/bin/env python3
"""In-process cost of the iSCSI plugin's own logic (name checks, checked configfs paths,
the old daemon's adoption look-ups), on the unit tests' fake configfs in /dev/shm: no
kernel, no storage tool, so only the Python side is measured.

    .venv/bin/python bench/bench_lio_inprocess.py [--exports 250] [--rounds 20]

With N exports (one volume per initiator, LUN 0) it prints medians of: export_list,
export_create + export_destroy of one more volume, and volume_exported of an unexported
volume (what vol_destroy asks). Run it on two trees to compare a change.

``--bytecodes`` also counts, per export, the Python bytecodes and calls of one
``export_list`` and of its configfs pass (an opcode trace): a figure a busy machine does
not move, for the Python side of a listing, which under TCG (the appliance) costs about as
much as its system calls.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "plugins", "targetd-lio", "tests"))

from fakes import FakeConfigfs, FakePool  # noqa: E402
from targetd_lio.service import LioExports  # noqa: E402

from targetd_core.config import Config  # noqa: E402
from targetd_core.core import Core  # noqa: E402
from targetd_core.locking import StorageLock  # noqa: E402

TARGET = "iqn.2003-01.org.linux-iscsi.bench:targetd"
POOL = "vg-targetd/thin_pool"


class KernelLikeConfigfs(FakeConfigfs):
    """The fake configfs with the kernel's cost for ``lun_in_use``: the kernel keeps a
    count of the links to each directory (one refused ``rmdir``); a plain directory has
    none, so the unit tests' fake reads every ACL. Here the links made and removed
    through the fake are counted instead."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.links: dict[int, int] = {}

    def create_mapped_lun(self, wwn: str, mapped: int, tpg_lun: int) -> None:
        super().create_mapped_lun(wwn, mapped, tpg_lun)
        self.links[tpg_lun] = self.links.get(tpg_lun, 0) + 1

    def delete_mapped_lun(self, wwn: str, mapped: int, quiet: bool = False) -> None:
        target = self.acl_mapped(wwn).get(mapped)
        super().delete_mapped_lun(wwn, mapped, quiet)
        if target is not None and not os.path.exists(self.mapped_dir(wwn, mapped)):
            self.links[target] -= 1

    def lun_in_use(self, number: int) -> bool:
        return self.links.get(number, 0) > 0


def median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bytecodes(call: Callable[[], object]) -> tuple[int, int]:
    """(bytecodes executed, Python calls made) by one ``call()``, from an opcode trace."""
    counts = [0, 0]

    def tracer(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        frame.f_trace_opcodes = True
        if event == "opcode":
            counts[0] += 1
        elif event == "call":
            counts[1] += 1
        return tracer

    call()  # warm: what a worker's later listings do
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return counts[0], counts[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exports", type=int, default=250)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument(
        "--bytecodes", action="store_true", help="count export_list's bytecodes per export"
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of export_create + export_destroy (top 25 by own time)",
    )
    args = ap.parse_args()
    n = args.exports
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-lio-", dir=base))
    try:
        (tmp / "dev").mkdir()
        pool = FakePool(POOL, tmp / "dev")
        core = Core(Config({}), StorageLock(tmp / "lock"), block_pools=[pool])
        for i in range(n + 1):
            pool.create_volume(f"v{i}", 4096)
        cfs = KernelLikeConfigfs(TARGET, root=tmp / "cfs")
        (cfs.tpg / "lun").mkdir(parents=True)
        (cfs.tpg / "acls").mkdir(parents=True)
        svc = LioExports(core, TARGET, [], tmp / "state.json", cfs, lambda name, portals: None)
        for i in range(n):
            svc.export_create(POOL, f"v{i}", f"iqn.1994-05.com.example:h{i}", 0)
        extra, wwn = f"v{n}", "iqn.1994-05.com.example:extra"

        def cycle() -> None:
            svc.export_create(POOL, extra, wwn, 0)
            svc.export_destroy(POOL, extra, wwn)

        print(f"{n} exports, medians of {args.rounds}:")
        print(
            f"  export_list                    {median_time(svc.export_list, args.rounds) * 1e3:8.2f} ms"
        )
        print(f"  export_create + export_destroy {median_time(cycle, args.rounds) * 1e3:8.2f} ms")
        creates, destroys = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            svc.export_create(POOL, extra, wwn, 0)
            creates.append(time.perf_counter() - t)
            t = time.perf_counter()
            svc.export_destroy(POOL, extra, wwn)
            destroys.append(time.perf_counter() - t)
        print(f"  export_create alone            {statistics.median(creates) * 1e3:8.2f} ms")
        print(f"  export_destroy alone           {statistics.median(destroys) * 1e3:8.2f} ms")
        ve = median_time(lambda: svc.volume_exported(POOL, extra), args.rounds)
        print(f"  volume_exported (not exported) {ve * 1e3:8.3f} ms")
        if args.bytecodes:
            for what, call in (
                ("export_list", svc.export_list),
                ("its configfs pass", lambda: cfs.read(tags=False)),
            ):
                ops, calls = bytecodes(call)
                print(f"  {what}: {ops / n:.0f} bytecodes, {calls / n:.1f} calls per export")
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.runcall(lambda: [cycle() for _ in range(args.rounds)])
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
