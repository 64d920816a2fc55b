"""docs/api.md is generated from rpc.discover: it must match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_api_reference_is_up_to_date() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "contrib" / "gen-api-docs"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
