"""Packaging: distributions, versions, the installed command, the unit file, the sample
configuration, the man pages and the Debian packages.

Every distribution of the repository is built (sdist, then the wheel from that sdist)
and the wheels are installed into a clean virtual environment (third-party dependencies
from PyPI, ours only from the wheels just built); ``targetd`` is then run from there.
"""

from __future__ import annotations

import ast
import email.parser
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "contrib" / "packaging"
sys.path.insert(0, str(PACKAGING))

from build_dists import BuildError, build, make_build_env  # noqa: E402
from repo_dists import Dist, find_dists, set_version  # noqa: E402

pytestmark = pytest.mark.slow

DISTS = find_dists(ROOT)
DIST_NAMES = [d.name for d in DISTS]
OUR_NAMES = {n.lower() for n in DIST_NAMES}

# Configuration under which a plugin starts without touching the host's storage
# (nothing to restore, no pool to check). Plugins not listed are still installed and
# imported, but not started.
STORAGE_FREE = {
    "example": lambda tmp: {},
    "lvm": lambda tmp: {"block_pools": []},
    "zfs": lambda tmp: {},
    "btrfs-fs": lambda tmp: {},
    "lio": lambda tmp: {"lio_state_file": str(tmp / "lio-state.json")},
    "nfs": lambda tmp: {"nfs_exports_file": str(tmp / "targetd.exports")},
}
# What a distribution must require beyond what its imports show.
MUST_REQUIRE = {"targetd-lio": {"rtslib-fb"}}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Built:
    dist: Dist
    sdist: Path | None = None
    wheel: Path | None = None
    error: str | None = None

    def metadata(self) -> email.message.Message:
        assert self.wheel is not None
        with zipfile.ZipFile(self.wheel) as z:
            (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
            return email.parser.Parser().parsestr(z.read(meta).decode())

    def entry_points(self) -> dict[str, dict[str, str]]:
        assert self.wheel is not None
        with zipfile.ZipFile(self.wheel) as z:
            names = [n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")]
            text = z.read(names[0]).decode() if names else ""
        groups: dict[str, dict[str, str]] = {}
        group = None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                group = line.strip("[]")
                groups[group] = {}
            elif "=" in line and group is not None:
                k, _, v = line.partition("=")
                groups[group][k.strip()] = v.strip()
        return groups

    def requires(self) -> set[str]:
        """Names of the unconditional runtime requirements."""
        out = set()
        for spec in self.metadata().get_all("Requires-Dist") or []:
            if ";" in spec and "extra ==" in spec.split(";", 1)[1]:
                continue
            out.add(_norm(re.split(r"[\s<>=!~;\[(]", spec, maxsplit=1)[0]))
        return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def build_python(work: Path) -> str:
    return make_build_env(work / "build-env")


@pytest.fixture(scope="module")
def built(work: Path, build_python: str) -> dict[str, Built]:
    out = {}
    for d in DISTS:
        b = Built(d)
        try:
            b.sdist, b.wheel, _ = build(d, work / "dist", build_python)
        except BuildError as exc:
            b.error = str(exc)
        out[d.name] = b
    return out


@pytest.fixture(scope="module")
def venv(work: Path, built: dict[str, Built]) -> Path:
    """A clean venv with every wheel that built, and their third-party dependencies."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check"]
    wheels = [b for b in built.values() if b.wheel is not None]
    third_party = sorted(
        {
            spec
            for b in wheels
            for spec in b.metadata().get_all("Requires-Dist") or []
            if "extra ==" not in spec and _norm(re.split(r"[\s<>=!~;\[(]", spec)[0]) not in OUR_NAMES
        }
    )
    if third_party:
        subprocess.run([*pip, *third_party], check=True)
    # Ours only from the wheels just built (a same-named project on an index must not win).
    subprocess.run(
        [*pip, "--no-index", "--find-links", str(work / "dist"), *(b.dist.name for b in wheels)],
        check=True,
    )
    return venv


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload]


# --- versions --------------------------------------------------------------------------


def test_all_versions_agree() -> None:
    found = {f"{d.name}: {f.relative_to(ROOT)}": v for d in DISTS for f, v in d.versions().items()}
    assert len(set(found.values())) == 1, f"versions disagree (contrib/packaging/set-version): {found}"


def test_set_version_rewrites_every_version(tmp_path: Path) -> None:
    for d in DISTS:
        for f in [d.path / "pyproject.toml", *d.version_files()]:
            target = tmp_path / f.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
    r = _run([sys.executable, str(PACKAGING / "set-version"), "--root", str(tmp_path), "9.8.7rc1"])
    assert r.returncode == 0, r.stderr
    r = _run([sys.executable, str(PACKAGING / "set-version"), "--root", str(tmp_path), "--check"])
    assert r.returncode == 0, r.stdout + r.stderr
    copies = find_dists(tmp_path)
    assert [c.name for c in copies] == DIST_NAMES
    assert {v for c in copies for v in c.versions().values()} == {"9.8.7rc1"}
    with pytest.raises(ValueError):
        set_version(copies[0], "not a version")


# --- distributions ---------------------------------------------------------------------


@pytest.mark.parametrize("name", DIST_NAMES)
def test_sdist_and_wheel_build(name: str, built: dict[str, Built]) -> None:
    b = built[name]
    assert b.error is None, b.error
    assert b.sdist is not None and b.wheel is not None
    with tarfile.open(b.sdist) as tar:
        members = tar.getnames()
    assert any(m.endswith("/pyproject.toml") for m in members)
    assert any(m.endswith("/PKG-INFO") for m in members)
    meta = b.metadata()
    assert meta["Name"].lower() == name
    assert meta["Version"] == next(iter(b.dist.versions().values()))
    assert meta["Requires-Python"], "Requires-Python is missing"
    assert meta.get_payload().strip() or meta["Description"], "no long description (README)"


@pytest.mark.parametrize("name", DIST_NAMES)
def test_wheel_entry_points_and_requirements(name: str, built: dict[str, Built]) -> None:
    b = built[name]
    if b.wheel is None:
        pytest.fail(f"{name} did not build: {b.error}")
    eps = b.entry_points()
    requires = b.requires()
    if name == "targetd-core":
        assert eps.get("console_scripts", {}).get("targetd") == "targetd_core.cli:main"
        return
    if name.startswith("targetd-") and name != "targetd-client":
        assert eps.get("targetd"), f"{name} declares no entry point in the 'targetd' group"
        for target in eps["targetd"].values():
            assert target.split(":")[0].split(".")[0] in b.dist.packages, target
        assert "targetd-core" in requires
    assert MUST_REQUIRE.get(name, set()) <= requires


@pytest.fixture(scope="module")
def module_owners(venv: Path) -> dict[str, set[str]]:
    """Top-level import name -> distributions providing it, in the clean venv."""
    r = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import json, importlib.metadata as m; print(json.dumps(m.packages_distributions()))",
        ]
    )
    assert r.returncode == 0, r.stderr
    return {k: {_norm(d) for d in v} for k, v in json.loads(r.stdout).items()}


def _imports(wheel: Path) -> set[str]:
    """Top-level modules imported (absolutely) anywhere in the wheel's code."""
    out = set()
    with zipfile.ZipFile(wheel) as z:
        for n in z.namelist():
            if not n.endswith(".py"):
                continue
            for node in ast.walk(ast.parse(z.read(n), n)):
                if isinstance(node, ast.Import):
                    out |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("name", DIST_NAMES)
def test_requirements_match_imports(
    name: str, built: dict[str, Built], module_owners: dict[str, set[str]]
) -> None:
    """Each distribution requires what it imports, and nothing it does not import."""
    b = built[name]
    if b.wheel is None:
        pytest.fail(f"{name} did not build: {b.error}")
    own = set(b.dist.packages)
    imported = {
        m for m in _imports(b.wheel) if m not in sys.stdlib_module_names and m not in own
    }
    requires = b.requires()
    needed: set[str] = set()
    for m in sorted(imported):
        owners = module_owners.get(m, set())
        assert owners, f"{name} imports {m!r}, which no requirement of any wheel provides"
        assert owners & requires, f"{name} imports {m!r} ({owners}) without requiring it"
        needed |= owners & requires
    unused = requires - needed - MUST_REQUIRE.get(name, set())
    assert not unused, f"{name} requires {sorted(unused)} but never imports them"


# --- the installed command -------------------------------------------------------------


def test_installed_targetd_version(venv: Path, built: dict[str, Built]) -> None:
    r = _run([str(venv / "bin" / "targetd"), "--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"targetd {built['targetd-core'].metadata()['Version']}"


def test_installed_plugins_all_import(venv: Path, built: dict[str, Built]) -> None:
    code = (
        "import json, importlib.metadata as m\n"
        "eps = m.entry_points(group='targetd')\n"
        "for ep in eps: ep.load()\n"
        "print(json.dumps(sorted(ep.name for ep in eps)))\n"
    )
    r = _run([str(venv / "bin" / "python"), "-c", code])
    assert r.returncode == 0, r.stderr
    declared = {
        n for b in built.values() if b.wheel is not None for n in b.entry_points().get("targetd", {})
    }
    assert set(json.loads(r.stdout)) == declared


def test_installed_targetd_plugins(venv: Path, built: dict[str, Built], tmp_path: Path) -> None:
    installed = {
        n: b for b in built.values() if b.wheel is not None for n in b.entry_points().get("targetd", {})
    }
    wanted = sorted(set(STORAGE_FREE) & set(installed))
    assert "example" in wanted
    cfg: dict[str, object] = {"password": "x", "state_dir": str(tmp_path / "state"), "plugins": wanted}
    for n in wanted:
        cfg.update(STORAGE_FREE[n](tmp_path))
    path = tmp_path / "targetd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    targetd = str(venv / "bin" / "targetd")
    r = _run([targetd, "-c", str(path), "plugins", "--json"])
    assert r.returncode == 0, r.stderr
    listed = {p["name"]: p for p in json.loads(r.stdout)}
    assert set(listed) == {"core", *wanted}, r.stdout
    for n in wanted:
        meta = installed[n].metadata()
        assert listed[n]["version"] == meta["Version"]
        assert _norm(listed[n]["distribution"]) == _norm(meta["Name"])
        assert "methods" in listed[n], f"{n} did not start: {r.stdout}"
    assert "example_echo" in listed["example"]["methods"]
    r = _run([targetd, "-c", str(path), "plugins"])
    assert r.returncode == 0 and "example" in r.stdout, r.stdout + r.stderr
    r = _run([targetd, "-c", str(path), "check"])
    assert r.returncode == 0, r.stderr


# --- the sample configuration ----------------------------------------------------------

SAMPLE = ROOT / "contrib" / "targetd.yaml"
SETTING_RE = re.compile(r"^#?([a-z][a-z0-9_]*):", re.MULTILINE)


def _declared_options() -> dict[str, object]:
    """key -> ConfigOption: the core's and every shipped plugin's (plugins/*)."""
    from importlib.metadata import entry_points

    from targetd_core.config import CORE_OPTIONS

    shipped = {_norm(d.name) for d in DISTS if d.path.parent.name == "plugins"}
    options = {o.key: o for o in CORE_OPTIONS}
    found = set()
    for ep in entry_points(group="targetd"):
        if ep.dist is None or _norm(ep.dist.name) not in shipped:
            continue
        found.add(_norm(ep.dist.name))
        hook = getattr(ep.load(), "targetd_config_options", None)
        for o in hook() if hook else ():
            options.setdefault(o.key, o)
    assert found == shipped, f"shipped plugins not installed here: {shipped - found}"
    return options


def test_sample_config_lists_exactly_the_declared_keys() -> None:
    keys = SETTING_RE.findall(SAMPLE.read_text())
    assert len(keys) == len(set(keys)), "a key is listed twice"
    declared = set(_declared_options())
    assert not set(keys) - declared, f"undeclared keys in the sample: {set(keys) - declared}"
    assert not declared - set(keys), f"declared keys missing from the sample: {declared - set(keys)}"


def test_sample_config_values_are_valid() -> None:
    """As shipped only the password is missing; with every key uncommented it checks."""
    from targetd_core.config import check

    options = list(_declared_options().values())
    text = SAMPLE.read_text()
    _, errors, unknown = check(yaml.safe_load(text) or {}, options)
    assert [e.key for e in errors] == ["password"] and not unknown
    uncommented = re.sub(r"^#(?=[a-z])", "", text, flags=re.MULTILINE)
    raw = yaml.safe_load(uncommented)
    _, errors, unknown = check(raw, options)
    assert not errors and not unknown, [str(e) for e in errors]
