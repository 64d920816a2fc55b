"""Build a distribution's sdist, then its wheel FROM that sdist (``python -m build``).

Building the wheel from the unpacked sdist proves the sdist is complete on its own.
The source tree is copied first, so nothing (egg-info, build/) is written into the
checkout that other people are working in. Builds run in one build environment
(:func:`make_build_env`: ``build``, ``setuptools`` and ``wheel`` pinned by hash in
``build-tools.txt``, installed from a local cache that is filled once while online) with
``--no-isolation``, so eight builds do not create sixteen throw-away environments and
need no network once the cache is filled; ``build`` still checks each
``build-system.requires``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from repo_dists import ROOT, Dist

HERE = Path(__file__).resolve().parent
BUILD_TOOLS = HERE / "build-tools.txt"
# Where hash-pinned downloads (build tools, vendored sdists and wheels) are kept.
DEFAULT_CACHE = Path(
    os.environ.get("TARGETD_PACKAGING_CACHE") or Path.home() / ".cache" / "targetd-packaging"
)

# Never part of any sdist; at the repository root also the other distributions' trees.
_JUNK = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}
_ROOT_SKIP = {"plugins", "clients", "contrib", "tests", "docs", ".ci"}

# Build output that means a broken distribution (a README that is declared but missing,
# or no README at all in the sdist).
BAD_OUTPUT = re.compile(r"cannot be found|standard file not found|error:", re.IGNORECASE)


class BuildError(Exception):
    pass


def _ignore(src: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in _JUNK or n.endswith(".egg-info")}
    if Path(src).resolve() == ROOT:
        skip |= _ROOT_SKIP & set(names)
    return skip


def pip_fetch(requirements: Path, cache: Path, python: str = sys.executable) -> None:
    """Download the hash-pinned files of ``requirements`` into ``cache`` (network)."""
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "download",
            "-q",
            "--no-deps",
            "--require-hashes",
            "-d",
            str(cache),
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(f"cannot fetch {requirements.name} into {cache}:\n{proc.stderr[-3000:]}")


def offline_pip_args(cache: Path) -> list[str]:
    """pip options that install only hash-checked files from ``cache``."""
    return ["--no-index", "--find-links", str(cache), "--require-hashes"]


def make_build_env(
    venv: Path,
    python: str = sys.executable,
    cache: Path = DEFAULT_CACHE,
    offline: bool = False,
) -> str:
    """A virtual environment with the pinned build tools; returns its interpreter.

    The tools come from ``cache``, filled first from the index unless ``offline``."""
    if not offline:
        pip_fetch(BUILD_TOOLS, cache, python)
    # No pip inside (ensurepip costs seconds): the caller's pip installs into it.
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "--python", py, "--disable-pip-version-check"]
    proc = subprocess.run(
        [*pip, "install", "-q", *offline_pip_args(cache), "-r", str(BUILD_TOOLS)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(
            f"cannot install the build tools from {cache} (fill it online first):\n"
            f"{proc.stderr[-3000:]}"
        )
    return py


def build(dist: Dist, outdir: Path, python: str) -> tuple[Path, Path, str]:
    """(sdist, wheel, build log) of ``dist`` in ``outdir``; ``python`` has the build tools.

    Raises BuildError if the build fails or its output shows a broken distribution.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="targetd-build-") as tmp:
        src = Path(tmp) / dist.path.name
        shutil.copytree(dist.path, src, ignore=_ignore)
        proc = subprocess.run(
            [python, "-m", "build", "--no-isolation", "--outdir", tmp, str(src)],
            capture_output=True,
            text=True,
        )
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise BuildError(f"building {dist.name} failed:\n{log[-4000:]}")
        bad = sorted({line.strip() for line in log.splitlines() if BAD_OUTPUT.search(line)})
        if bad:
            raise BuildError(f"building {dist.name}: " + "; ".join(bad))
        (sdist,) = Path(tmp).glob("*.tar.gz")
        (wheel,) = Path(tmp).glob("*.whl")
        out = []
        for f in (sdist, wheel):
            target = outdir / f.name
            shutil.move(f, target)
            out.append(target)
    return out[0], out[1], log
