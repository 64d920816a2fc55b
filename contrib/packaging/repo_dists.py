"""The Python distributions of this repository and where each keeps its version.

Every distribution builds standalone (its sdist holds everything it needs), so a
version cannot live in one shared file outside them. Instead each distribution keeps
its version where setuptools reads it -- a static ``version = "..."`` in the
``[project]`` table, or ``__version__`` in a module named by
``[tool.setuptools.dynamic] version = {attr = ...}`` -- and ``set-version`` rewrites
all of them at once; a test checks that they agree. ``__version__`` in a package's
``__init__.py`` counts too when present, so a runtime version cannot drift either.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Where shipped distributions live (tests/plugins/* are test-only and excluded).
DIST_GLOBS = (
    "pyproject.toml",
    "plugins/*/pyproject.toml",
    "contrib/*/pyproject.toml",
    "clients/*/pyproject.toml",
)

_STATIC_RE = re.compile(r'^(version\s*=\s*)"([^"]*)"', re.MULTILINE)
_DUNDER_RE = re.compile(r'^(__version__\s*=\s*)["\']([^"\']*)["\']', re.MULTILINE)
VERSION_RE = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")


@dataclass(frozen=True)
class Dist:
    name: str
    path: Path  # the directory holding pyproject.toml
    packages: tuple[str, ...]
    dynamic_attr: str | None  # e.g. "targetd_core.__version__"

    def version_files(self) -> list[Path]:
        """Every file holding this distribution's version."""
        files = [] if self.dynamic_attr else [self.path / "pyproject.toml"]
        dynamic_module = self.dynamic_attr.rpartition(".")[0] if self.dynamic_attr else None
        modules = {f"{p}.__init__" for p in self.packages}
        if dynamic_module:
            modules.add(dynamic_module)
        for mod in sorted(modules):
            f = _module_file(self.path, mod)
            if f is None:
                if mod == dynamic_module:
                    raise ValueError(f"{self.name}: version module {mod} not found")
                continue
            if f not in files and (mod == dynamic_module or _DUNDER_RE.search(f.read_text())):
                files.append(f)
        return files

    def versions(self) -> dict[Path, str]:
        """File -> version found in it."""
        out = {}
        for f in self.version_files():
            text = f.read_text()
            if f.name == "pyproject.toml":
                out[f] = tomllib.loads(text)["project"]["version"]
            else:
                m = _DUNDER_RE.search(text)
                assert m is not None, f
                out[f] = m.group(2)
        return out


def _module_file(base: Path, module: str) -> Path | None:
    parts = module.split(".")
    if parts[-1] == "__init__":
        candidate = base.joinpath(*parts[:-1], "__init__.py")
        return candidate if candidate.is_file() else None
    for candidate in (
        base.joinpath(*parts).with_suffix(".py"),
        base.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate
    return None


def load_dist(path: Path) -> Dist:
    data = tomllib.loads((path / "pyproject.toml").read_text())
    project = data["project"]
    setuptools_cfg = data.get("tool", {}).get("setuptools", {})
    packages = setuptools_cfg.get("packages", [])
    if not isinstance(packages, list):  # find: {...} -- top-level dirs with __init__.py
        packages = [p.name for p in sorted(path.iterdir()) if (p / "__init__.py").is_file()]
    attr = None
    if "version" in project.get("dynamic", []):
        attr = setuptools_cfg.get("dynamic", {}).get("version", {}).get("attr")
        if attr is None:
            raise ValueError(f"{path}: dynamic version without [tool.setuptools.dynamic] attr")
    return Dist(project["name"], path, tuple(p for p in packages if "." not in p), attr)


def find_dists(root: Path = ROOT) -> list[Dist]:
    """Every shipped distribution in the repository, the core first."""
    paths = []
    for pattern in DIST_GLOBS:
        paths += sorted(p.parent for p in root.glob(pattern))
    return [load_dist(p) for p in paths]


def set_version(dist: Dist, version: str) -> list[Path]:
    """Rewrite every version string of ``dist``; returns the files changed."""
    if not VERSION_RE.fullmatch(version):
        raise ValueError(f"{version!r} is not a release version like 1.2.0 or 1.2.0rc1")
    changed = []
    for f in dist.version_files():
        text = f.read_text()
        if f.name == "pyproject.toml":
            head, sep, rest = text.partition("[project]")
            section_end = re.search(r"^\[", rest, re.MULTILINE)
            cut = section_end.start() if section_end else len(rest)
            section, n = _STATIC_RE.subn(rf'\g<1>"{version}"', rest[:cut], count=1)
            new = head + sep + section + rest[cut:]
        else:
            new, n = _DUNDER_RE.subn(rf'\g<1>"{version}"', text, count=1)
        if n != 1:
            raise ValueError(f"{f}: no version string found")
        if new != text:
            f.write_text(new)
            changed.append(f)
    return changed
