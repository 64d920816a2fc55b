"""The repository stands on its own: a release tarball holds everything its files refer to.

Nothing tracked may point at files outside the tree (the wire contract is
docs/contract.md; figures the project relies on are restated where they are used), and a
relative Markdown link must resolve to a file or directory of the tree.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./" + "shared",
            "shared" + r"/API\.md",
            "shared" + "/notes",
            "/work" + "/shared",
            "/work" + r"/briefs",
        ]
    )
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


_JUNK = {".git", ".venv", ".venv-debian", "build", "dist", "__pycache__", "pyproject-wheeldir"}


def _tracked_text_files() -> list[Path]:
    """The tracked files of a checkout; in an unpacked release tarball, every file."""
    if (ROOT / ".git").exists():
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        paths = [ROOT / rel for rel in filter(None, out.split("\0"))]
    else:
        paths = [
            p
            for p in ROOT.rglob("*")
            if not any(
                part in _JUNK or part.startswith(".pyproject") or part.endswith(".egg-info")
                for part in p.relative_to(ROOT).parts
            )
        ]
    files = []
    for path in paths:
        if not path.is_file() or path.is_symlink():
            continue
        if b"\0" not in path.read_bytes()[:8192]:
            files.append(path)
    return files


FILES = _tracked_text_files()


def test_the_tree_is_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docs/contract.md", "pyproject.toml"} <= names


def test_no_reference_to_paths_outside_the_tree() -> None:
    bad = []
    for path in FILES:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "references to files outside the repository:\n" + "\n".join(bad)


def test_markdown_links_stay_inside_the_tree() -> None:
    bad = []
    for path in FILES:
        if path.suffix != ".md":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):  # URL, anchor, absolute
                    continue
                resolved = (path.parent / target.split("#")[0]).resolve()
                where = f"{path.relative_to(ROOT)}:{n}: {target}"
                if not resolved.is_relative_to(ROOT):
                    bad.append(f"{where} (outside the repository)")
                elif not resolved.exists():
                    bad.append(f"{where} (no such file)")
    assert not bad, "Markdown links that a release tarball cannot follow:\n" + "\n".join(bad)


def test_the_checker_catches_what_it_should(tmp_path: Path) -> None:
    shared = "sha" + "red"
    assert OUTSIDE.search(f"see ../{shared}/API.md")
    assert OUTSIDE.search(f"({shared}/notes/x.md)")
    assert not OUTSIDE.search("docs/contract.md, shared pools, /usr/share/doc")
    assert LINK.findall("[a](../../x.md) and [b](docs/y.md#z)") == ["../../x.md", "docs/y.md#z"]
