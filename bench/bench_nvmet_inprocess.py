#!/usr/bin/env python3
"""In-process cost of the NVMe plugin's own logic (name checks, checked configfs paths,
the state file), on the unit tests' fake configfs in /dev/shm: no kernel, no storage tool,
so only the Python side is measured.

    .venv/bin/python bench/bench_nvmet_inprocess.py [--sizes 1,100,250] [--rounds 20]

For each N exports (all to one host: one subsystem with N namespaces, the case where a
cost could grow) it prints medians of: nvme_export_list, nvme_export_create and
nvme_export_destroy of one more volume, and volume_exported of an unexported volume (what
vol_destroy asks). The state file is on /dev/shm too, so its fsync costs nothing here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "plugins", "targetd-nvmet", "tests"))

from nvmet_fakes import FakeNvmet, FakePool  # noqa: E402
from targetd_nvmet.service import NvmetExports  # noqa: E402

from targetd_core.config import Config  # noqa: E402
from targetd_core.core import Core  # noqa: E402
from targetd_core.locking import StorageLock  # noqa: E402

POOL = "vg-targetd/thin_pool"
HOST = "nqn.2014-08.org.example.bench:host"


def median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100,250")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-nvmet-", dir=base))
    try:
        (tmp / "dev").mkdir()
        pool = FakePool(POOL, tmp / "dev")
        core = Core(Config({}), StorageLock(tmp / "lock"), block_pools=[pool])
        for i in range(max(sizes) + 2):
            pool.create_volume(f"v{i}", 1 << 20)
        svc = NvmetExports(core, "nqn.2003-01.org.targetd:bench", ["127.0.0.1"], 4420,
                           tmp / "state.json", cfs=FakeNvmet(tmp / "nvmet"))  # fmt: skip
        made = 0
        spare, idle = f"v{max(sizes)}", f"v{max(sizes) + 1}"
        print(f"{'exports':>8} {'list ms':>8} {'create ms':>10} {'destroy ms':>11} "
              f"{'exported? ms':>13}")  # fmt: skip
        for n in sizes:
            while made < n:
                svc.export_create(POOL, f"v{made}", HOST, None)
                made += 1
            lt = median_time(svc.export_list, args.rounds)
            ct, dt = [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                svc.export_create(POOL, spare, HOST, None)
                ct.append(time.perf_counter() - t)
                t = time.perf_counter()
                svc.export_destroy(POOL, spare, HOST)
                dt.append(time.perf_counter() - t)
            et = median_time(lambda: svc.volume_exported(POOL, idle), args.rounds)
            print(f"{n:>8} {lt * 1e3:>8.2f} {statistics.median(ct) * 1e3:>10.2f} "
                  f"{statistics.median(dt) * 1e3:>11.2f} {et * 1e3:>13.2f}")  # fmt: skip
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
