"""docs/contract.md, the wire contract for users, covers every method and error code."""

from __future__ import annotations

import re
from pathlib import Path

from targetd_core import testing
from targetd_core.errors import ErrorCode

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _contract() -> str:
    return (DOCS / "contract.md").read_text()


def test_every_method_of_the_reference_is_in_the_contract() -> None:
    reference = set(re.findall(r"^## (\S+)$", (DOCS / "api.md").read_text(), re.MULTILINE))
    assert "vol_create" in reference
    methods = _contract().split("\n## Methods\n", 1)[1].split("\n## ", 1)[0]
    in_contract = set(re.findall(r"^\| `([a-z_.]+)` \|", methods, re.MULTILINE))
    assert reference - {"rpc.discover"} == in_contract


SHIPPED = ["lvm", "zfs", "lio", "btrfs-fs", "nfs"]


def shipped_codes(tmp_path: Path) -> dict[int, ErrorCode]:
    """Every error code of a core with the shipped plugins: the core's and theirs."""
    t = testing.build({"block_pools": []}, SHIPPED, tmp_path)
    return {n: e.code for n, e in t.core.error_codes.items()}


def test_every_error_code_is_in_the_contract(tmp_path: Path) -> None:
    table = set(re.findall(r"^\| (-\d+) \|", _contract(), re.MULTILINE))
    assert {str(n) for n in shipped_codes(tmp_path)} == table
