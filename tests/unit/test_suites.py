"""A bare `pytest` from the repository root collects every suite: the distributions'
test directories are not packages named "tests" (which would clash with this one), so
pytest imports their modules by file name, and those names must not repeat."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def distribution_test_dirs() -> list[Path]:
    return sorted(
        [
            *ROOT.glob("plugins/*/tests"),
            *ROOT.glob("clients/*/tests"),
            ROOT / "contrib/example-plugin/tests",
        ]
    )


def test_no_distribution_test_directory_is_a_package() -> None:
    assert [d for d in distribution_test_dirs() if (d / "__init__.py").exists()] == []


def test_test_module_names_do_not_repeat() -> None:
    names = Counter(
        p.name for d in distribution_test_dirs() for p in d.glob("*.py") if p.name != "conftest.py"
    )
    assert [n for n, k in names.items() if k > 1] == []


def test_every_suite_is_a_testpath() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    paths = {ROOT / p for p in conf["testpaths"]}
    for d in distribution_test_dirs():
        assert any(d == p or p in d.parents for p in paths), d
    assert ROOT / "tests/unit" in paths
