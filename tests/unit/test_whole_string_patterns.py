"""No regular expression in the project may rely on ``$`` to end a match.

``$`` also matches before a final newline, so ``re.match(r"^[a-z]+$", "x\\n")`` succeeds and
a name with a trailing newline slips through a check (it once made undeletable
subvolumes and live NFS exports nobody could remove). Whole strings are validated with
``re.fullmatch`` (or a pattern ending in ``\\Z``); ``$`` is allowed only with
``re.MULTILINE``, where it is meant as a line end.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["targetd_core", "plugins", "clients", "contrib", "bench"]
RE_FUNCS = {
    "compile",
    "match",
    "search",
    "fullmatch",
    "sub",
    "subn",
    "split",
    "findall",
    "finditer",
}


def _sources() -> list[Path]:
    files: list[Path] = []
    for d in SOURCE_DIRS:
        for p in sorted((ROOT / d).rglob("*.py")):
            if "/tests/" in str(p.relative_to(ROOT)) + "/" or ".venv" in p.parts:
                continue
            files.append(p)
    return files


def _ends_with_dollar(pattern: str | bytes) -> bool:
    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    if not text.endswith("$"):
        return False
    backslashes = len(text[:-1]) - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 0


def _multiline(call: ast.Call) -> bool:
    return "MULTILINE" in ast.unparse(call) or "(?m" in ast.unparse(call)


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if not (
            isinstance(func, ast.Attribute)
            and func.attr in RE_FUNCS
            and isinstance(func.value, ast.Name)
            and func.value.id == "re"
        ):
            continue
        pat = node.args[0]
        if isinstance(pat, ast.Constant) and isinstance(pat.value, (str, bytes)):
            if _ends_with_dollar(pat.value) and not _multiline(node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {pat.value!r}")
    return found


def test_sources_found():
    assert len(_sources()) > 50


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pattern_ends_with_dollar(path: Path):
    assert _offences(path) == [], "use re.fullmatch (or \\Z) instead of a pattern ending in $"


def test_the_check_catches_the_old_bug(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text('import re\nNAME = re.compile(r"^[a-z]+$")\n')
    fine = tmp_path / "fine.py"
    fine.write_text('import re\nA = re.compile(r"[a-z]+")\nB = re.compile(r"^x$", re.MULTILINE)\n')
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert len(_offences(bad)) == 1
        assert _offences(fine) == []
    finally:
        ROOT = old
    # and the reason the rule exists:
    assert re.match(r"^[a-z]+$", "x\n") and not re.fullmatch(r"[a-z]+", "x\n")
