"""Packaging: distributions, versions, the installed command, the unit file, the sample
configuration, the man pages and the Debian packages.

Every distribution of the repository is built (sdist, then the wheel from that sdist)
and the wheels are installed into a clean virtual environment (third-party dependencies
from PyPI, ours only from the wheels just built); ``targetd`` is then run from there.
"""

from __future__ import annotations

import ast
import concurrent.futures
import email.parser
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
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
    "nvmet": lambda tmp: {"nvmet_state_file": str(tmp / "nvmet-state.json")},
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
    def one(d: Dist) -> Built:
        b = Built(d)
        try:
            b.sdist, b.wheel, _ = build(d, work / "dist", build_python)
        except BuildError as exc:
            b.error = str(exc)
        return b

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return {b.dist.name: b for b in pool.map(one, DISTS)}


@pytest.fixture(scope="module")
def venv(work: Path, built: dict[str, Built]) -> Path:
    """A clean venv with every wheel that built, and their third-party dependencies."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv / "bin" / "python"),
        "--disable-pip-version-check",
        "install",
        "-q",
    ]
    wheels = [b for b in built.values() if b.wheel is not None]
    third_party = sorted(
        {
            spec
            for b in wheels
            for spec in b.metadata().get_all("Requires-Dist") or []
            if "extra ==" not in spec
            and _norm(re.split(r"[\s<>=!~;\[(]", spec)[0]) not in OUR_NAMES
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


def _run(argv: list[str], timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]


# --- versions --------------------------------------------------------------------------


def test_all_versions_agree() -> None:
    found = {f"{d.name}: {f.relative_to(ROOT)}": v for d in DISTS for f, v in d.versions().items()}
    assert len(set(found.values())) == 1, (
        f"versions disagree (contrib/packaging/set-version): {found}"
    )


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
    # The licence: SPDX expression, and the GPL's text in the sdist and the wheel.
    assert meta["License-Expression"] == "GPL-3.0-or-later"
    assert meta.get_all("License-File") == ["LICENSE"]
    gpl = (ROOT / "LICENSE").read_text()
    assert gpl.lstrip().startswith("GNU GENERAL PUBLIC LICENSE") and "Version 3" in gpl[:200]
    with tarfile.open(b.sdist) as tar:
        (lic,) = [
            m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/LICENSE")
        ]
        assert lic.isfile(), "the sdist's LICENSE must be a file, not a link"
        assert tar.extractfile(lic).read().decode() == gpl  # type: ignore[union-attr]
    with zipfile.ZipFile(b.wheel) as z:
        (lic_name,) = [n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert z.read(lic_name).decode() == gpl
    assert meta.get_payload().strip() or meta["Description"], (
        f'{name} has no long description: add readme = "README.md" to [project] in '
        f"{b.dist.path.relative_to(ROOT) / 'pyproject.toml'}"
    )


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
    imported = {m for m in _imports(b.wheel) if m not in sys.stdlib_module_names and m not in own}
    requires = b.requires()
    needed: set[str] = set()
    for m in sorted(imported):
        owners = module_owners.get(m, set())
        assert owners, f"{name} imports {m!r}, which no requirement of any wheel provides"
        assert owners & requires, (
            f"{name} imports {m!r} without requiring it: add {sorted(owners)[0]!r} to "
            f"dependencies in {b.dist.path.relative_to(ROOT) / 'pyproject.toml'}"
        )
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
        n
        for b in built.values()
        if b.wheel is not None
        for n in b.entry_points().get("targetd", {})
    }
    assert set(json.loads(r.stdout)) == declared


def test_installed_targetd_plugins(venv: Path, built: dict[str, Built], tmp_path: Path) -> None:
    installed = {
        n: b
        for b in built.values()
        if b.wheel is not None
        for n in b.entry_points().get("targetd", {})
    }
    wanted = sorted(set(STORAGE_FREE) & set(installed))
    assert "example" in wanted
    cfg: dict[str, object] = {
        "password": "x",
        "state_dir": str(tmp_path / "state"),
        "plugins": wanted,
    }
    for n in wanted:
        cfg.update(STORAGE_FREE[n](tmp_path))
    path = tmp_path / "targetd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)  # targetd refuses a configuration others can read
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


class _Declared:
    """A sink for targetd_core.registry.Declare: keeps the configuration options."""

    def __init__(self) -> None:
        self.options: list = []

    def add_option(self, plugin: str, option: object) -> None:
        self.options.append(option)

    def add_error_code(self, plugin: str, code: object) -> None:
        pass


def _declared_options() -> dict[str, object]:
    """key -> ConfigOption: the core's and every shipped plugin's (plugins/*)."""
    from importlib.metadata import entry_points

    from targetd_core.config import CORE_OPTIONS
    from targetd_core.registry import Declare

    shipped = {_norm(d.name) for d in DISTS if d.path.parent.name == "plugins"}
    options = {o.key: o for o in CORE_OPTIONS}
    found = set()
    for ep in entry_points(group="targetd"):
        if ep.dist is None or _norm(ep.dist.name) not in shipped:
            continue
        found.add(_norm(ep.dist.name))
        hook = getattr(ep.load(), "targetd_declare", None)
        if hook:  # what the plugin declares, caught as the loader's registry would
            declared = _Declared()
            hook(Declare(ep.name, declared))
            for o in declared.options:
                options.setdefault(o.key, o)
    assert found == shipped, f"shipped plugins not installed here: {shipped - found}"
    return options


def test_sample_config_lists_exactly_the_declared_keys() -> None:
    keys = SETTING_RE.findall(SAMPLE.read_text())
    assert len(keys) == len(set(keys)), "a key is listed twice"
    declared = set(_declared_options())
    assert not set(keys) - declared, f"undeclared keys in the sample: {set(keys) - declared}"
    assert not declared - set(keys), (
        f"declared keys missing from the sample: {declared - set(keys)}"
    )


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


# --- man pages -------------------------------------------------------------------------

MAN = ROOT / "docs" / "man"
MAN_PAGES = sorted(MAN.glob("*.[1-8]"))


def test_man_pages_exist() -> None:
    assert {p.name for p in MAN_PAGES} >= {"targetd.8", "targetd.yaml.5"}


@pytest.mark.parametrize("page", MAN_PAGES, ids=lambda p: p.name)
def test_man_page_renders_without_warnings(page: Path) -> None:
    groff = shutil.which("groff")
    assert groff, "groff is missing: apt-get install groff-base"
    r = _run([groff, "-man", "-Tutf8", "-ww", "-z", str(page)])
    assert r.returncode == 0 and not r.stderr, r.stderr


def _man_text(page: Path) -> str:
    return page.read_text().replace("\\-", "-")


def test_config_man_page_documents_every_key() -> None:
    text = _man_text(MAN / "targetd.yaml.5")
    documented = set(re.findall(r"^\.TP\n\.BR? ([a-z][a-z0-9_]*)\b", text, re.MULTILINE))
    declared = set(_declared_options())
    assert documented == declared, (
        f"missing: {declared - documented}, not declared: {documented - declared}"
    )


def test_command_man_page_documents_every_option_and_command() -> None:
    import argparse

    from targetd_core.cli import _parser

    text = _man_text(MAN / "targetd.8")
    parser = _parser()
    flags: set[str] = set()
    commands: set[str] = set()

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    commands.add(name)
                    walk(sub)
            else:
                flags.update(s for s in action.option_strings if s.startswith("--"))

    walk(parser)
    for word in sorted(flags | commands):
        assert re.search(rf"^\.(B|BR|BI|OP|TP)\b.*{re.escape(word)}\b", text, re.MULTILINE), (
            f"targetd.8 does not document {word}"
        )


# --- systemd ---------------------------------------------------------------------------

UNIT = ROOT / "contrib" / "systemd" / "targetd.service"


def _unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_unit_file_verifies(venv: Path, tmp_path: Path) -> None:
    """systemd-analyze verify, with ExecStart at the clean venv's targetd and the man pages
    on MANPATH (so Documentation= is checked too); any warning fails."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    targetd = venv / "bin" / "targetd"
    text = UNIT.read_text()
    assert "\nExecStart=/usr/bin/targetd -c /etc/target/targetd.yaml\n" in text
    unit = tmp_path / "targetd.service"
    unit.write_text(text.replace("ExecStart=/usr/bin/targetd", f"ExecStart={targetd}"))
    for page in MAN_PAGES:
        section = tmp_path / "man" / f"man{page.suffix[1:]}"
        section.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, section)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MANPATH": str(tmp_path / "man")}
    r = _run([analyze, "verify", str(unit)], env=env)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_unit_file_settings() -> None:
    s = _unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and s["KillSignal"] == ["SIGTERM"]
    assert s["KillMode"] == ["mixed"]
    from targetd_core.config import CORE_OPTIONS

    state_dir = next(o.default for o in CORE_OPTIONS if o.key == "state_dir")
    assert s["RuntimeDirectory"] == [Path(state_dir).name] and state_dir.startswith("/run/")
    from targetd_core.config import Config
    from targetd_core.server import gunicorn_options

    opts = gunicorn_options(
        Config(
            {"bind": "127.0.0.1:1", "workers": 1, "threads": 1, "log_level": "info", "ssl": False}
        )
    )
    graceful = opts["graceful_timeout"]
    assert int(s["TimeoutStopSec"][0].removesuffix("s")) > graceful
    # Any of these gives the service a private mount namespace: mounts it makes (zfs
    # create, zfs mount) would not be seen by the host or the NFS server.
    namespaced = {
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateMounts",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectProc",
        "ProcSubset",
        "ReadOnlyPaths",
        "ReadWritePaths",
        "InaccessiblePaths",
        "TemporaryFileSystem",
        "BindPaths",
        "BindReadOnlyPaths",
        "MountFlags",
        # Implies DeviceAllow=char-rtc, which closes every other device (LVs, zvols).
        "ProtectClock",
        "DevicePolicy",
        "DeviceAllow",
    }
    assert not namespaced & set(s), f"breaks storage management: {namespaced & set(s)}"


def test_daemon_notifies_readiness_from_main_process(venv: Path, tmp_path: Path) -> None:
    """What Type=notify + NotifyAccess=main rely on: READY=1 from the main PID, sent
    once the socket listens; SIGTERM then stops it well within TimeoutStopSec."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "targetd.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "password": "x",
                "state_dir": str(tmp_path / "state"),
                "plugins": ["example"],
                "bind": f"127.0.0.1:{port}",
                "workers": 1,
                "threads": 2,
            }
        )
    )
    cfg.chmod(0o600)  # targetd refuses a configuration others can read
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    env = {"PATH": os.environ["PATH"], "NOTIFY_SOCKET": str(tmp_path / "notify")}
    log = tmp_path / "targetd.log"
    proc = subprocess.Popen(
        [str(venv / "bin" / "targetd"), "-c", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        msg, anc, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(12))
        creds = [
            d for lvl, typ, d in anc if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS
        ]
        pid = int.from_bytes(creds[0][:4], sys.byteorder)
        assert b"READY=1" in msg.split(b"\n")
        assert pid == proc.pid, "READY=1 came from another process than the main one"
        # A worker answers (a SIGTERM while the first worker is still booting is ignored
        # by that worker, and stopping then takes gunicorn's whole graceful timeout).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/targetrpc")
        assert conn.getresponse().status == 401
        conn.close()
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
        assert time.monotonic() - start < int(_unit_settings()["TimeoutStopSec"][0][:-1])
    finally:
        notify.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- Debian packages -------------------------------------------------------------------

SITE = "usr/lib/targetd/python"
NOT_PACKAGED = {"targetd-example"}  # what `build-deb all` leaves out
DEB_NAMES = [n for n in DIST_NAMES if n not in NOT_PACKAGED]
PLUGINS = [n for n in DEB_NAMES if n not in ("targetd-core", "targetd-client")]
# Who lintian and the changelog see as maintainer (the default is a placeholder).
MAINTAINER_ENV = {"DEBFULLNAME": "targetd CI", "DEBEMAIL": "ci@targetd.example.org"}


def _build_deb(out: Path, names: list[str], work: Path, *extra: str, **kw: object):
    env = {**os.environ, **MAINTAINER_ENV, "TARGETD_PACKAGING_CACHE": str(work / "cache")}
    argv = [sys.executable, str(PACKAGING / "build-deb"), "--out", str(out), *extra, *names]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def debs(work: Path, built: dict[str, Built]) -> dict[str, Path]:
    """`build-deb all` (which fills its download cache), from the wheels built above."""
    for n in DEB_NAMES:
        assert built[n].wheel is not None, f"{n} did not build: {built[n].error}"
    out = work / "deb"
    # build-deb decides Debian dependency or vendoring from apt's package lists: without
    # them (a fresh machine) it would vendor everything and refuse the lio plugin.
    policy = _run(["apt-cache", "policy", "python3-rtslib-fb"]).stdout
    if not re.search(r"Candidate: \d", policy):
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        assert _run(["apt-get", "update", "-qq"], env=env).returncode == 0
    r = _build_deb(out, ["all"], work, "--wheels", str(work / "dist"))
    assert r.returncode == 0, r.stdout + r.stderr
    found = {p.name.split("_")[0]: p for p in out.glob("*.deb")}
    assert set(found) == set(DEB_NAMES), r.stdout
    return found


def _deb_field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "--field", str(deb), name]).stdout.strip()


def _deb_contents(deb: Path) -> dict[str, str]:
    """Path (without the leading '.') -> owner/group, as dpkg-deb --contents lists them."""
    r = _run(["dpkg-deb", "--contents", str(deb)])
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        out[parts[5].removeprefix(".")] = parts[1]
    return out


def _depends(deb: Path) -> list[str]:
    return [d.strip() for d in _deb_field(deb, "Depends").split(",")]


def test_deb_control_fields(debs: dict[str, Path], built: dict[str, Built]) -> None:
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    for name, deb in debs.items():
        r = _run(["dpkg-deb", "--info", str(deb)])
        assert r.returncode == 0, r.stderr
        version = built[name].metadata()["Version"]
        assert _deb_field(deb, "Package") == name
        assert _deb_field(deb, "Version") == f"{version}-1"
        assert _deb_field(deb, "Architecture") in ("all", arch)
        assert _deb_field(deb, "Maintainer") == "targetd CI <ci@targetd.example.org>"
        # The synopsis is the whole summary, never cut.
        synopsis = _deb_field(deb, "Description").splitlines()[0]
        assert synopsis == built[name].metadata()["Summary"] and len(synopsis) < 80
        depends = _depends(deb)
        assert "python3 (>= 3.11)" in depends
        if name in PLUGINS:  # released together: exactly this core
            assert f"targetd-core (= {version}-1)" in depends, depends
    assert "lvm2" in _depends(debs["targetd-lvm"])
    assert any(d.startswith("python3-rtslib-fb") for d in _depends(debs["targetd-lio"]))
    assert _deb_field(debs["targetd-core"], "Replaces") == "targetd"  # the old daemon


def _control_file(deb: Path, name: str) -> str:
    r = _run(["dpkg-deb", "--info", str(deb), name])
    return r.stdout if r.returncode == 0 else ""


def test_deb_maintainer_scripts(debs: dict[str, Path]) -> None:
    """The service restarts once per dpkg run (a trigger), stops on removal, and systemd
    forgets the unit after it."""
    core = debs["targetd-core"]
    assert _control_file(core, "triggers").split() == ["interest-noawait", "targetd-restart"]
    postinst = _control_file(core, "postinst")
    configure = postinst.split("configure)")[1].split(";;")[0]
    assert "try-restart" not in configure and "dpkg-trigger --no-await targetd-restart" in configure
    assert "try-restart targetd.service" in postinst.split("triggered)")[1].split(";;")[0]
    prerm = _control_file(core, "prerm")
    assert re.search(r'"\$1" = remove .*\n\s+deb-systemd-invoke stop targetd.service', prerm)
    assert "daemon-reload" in _control_file(core, "postrm")
    for name in PLUGINS:
        deb = debs[name]
        assert _control_file(deb, "triggers").split() == ["activate-noawait", "targetd-restart"]
        for script in ("postinst", "prerm", "postrm"):
            text = _control_file(deb, script)
            assert "restart" not in text and "systemctl" not in text, (name, script)
    for name, deb in debs.items():
        for script in ("postinst", "prerm", "postrm"):
            text = _control_file(deb, script)
            if text:
                r = _run(["sh", "-n"], input=text)
                assert r.returncode == 0, (name, script, r.stderr)


def test_lintian_pedantic_clean(debs: dict[str, Path]) -> None:
    lintian = shutil.which("lintian")
    assert lintian, "lintian is missing: apt-get install lintian"
    r = _run(
        [lintian, "--pedantic", "--info", "--fail-on", "error,warning,info,pedantic",
         "--tag-display-limit", "0", *map(str, debs.values())],
    )  # fmt: skip
    tags = [ln for ln in r.stdout.splitlines() if re.match(r"[EWIPX]: ", ln)]
    assert r.returncode == 0 and not tags, r.stdout + r.stderr


def test_deb_copyright_and_licences(debs: dict[str, Path], tmp_path: Path) -> None:
    vendored = set()
    for name, deb in debs.items():
        root = tmp_path / name
        assert _run(["dpkg-deb", "-x", str(deb), str(root)]).returncode == 0
        text = (root / "usr/share/doc" / name / "copyright").read_text()
        assert text.startswith("Format: https://www.debian.org/doc/packaging-manuals/")
        assert "\nFiles: *\nCopyright: " in text and "\nLicense: GPL-3+\n" in text
        assert "/usr/share/common-licenses/GPL-3" in text
        for site_dir in (root / SITE).iterdir():
            if site_dir.name.endswith(".dist-info") and not site_dir.name.startswith("targetd"):
                vendored.add(site_dir.name.split("-")[0].lower())
                assert f"Files: {SITE}/" in text and "License: MIT\n" in text
    sys.path.insert(0, str(PACKAGING))
    pins = (PACKAGING / "vendor.txt").read_text()
    # Only what vendor.txt pins (by hash) is bundled: jsonrpcserver and its oslash.
    assert vendored == {"jsonrpcserver", "oslash"}
    for name in vendored:
        assert re.search(rf"^{name}==\S+ \\\n\s+--hash=sha256:[0-9a-f]{{64}}$", pins, re.M | re.I)


def test_deb_builds_offline_from_the_cache(debs: dict[str, Path], work: Path) -> None:
    """Once the cache is filled (by the fixture's build), no network is needed: build
    again in a network namespace of its own (no interfaces but lo), with --offline."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare is missing: apt-get install util-linux"
    out = work / "deb-offline"
    env = {**os.environ, **MAINTAINER_ENV, "TARGETD_PACKAGING_CACHE": str(work / "cache")}
    argv = [unshare, "--net", sys.executable, str(PACKAGING / "build-deb"), "--offline",
            "--out", str(out), "targetd-core", "targetd-lio"]  # fmt: skip
    r = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("targetd-core", "targetd-lio"):
        (deb,) = out.glob(f"{name}_*.deb")
        assert set(_deb_contents(deb)) == set(_deb_contents(debs[name]))
        assert _depends(deb) == _depends(debs[name])


def test_client_deb(debs: dict[str, Path]) -> None:
    files = _deb_contents(debs["targetd-client"])
    for path in (
        "/usr/bin/targetd-cli",
        "/usr/share/man/man1/targetd-cli.1.gz",
        "/usr/share/bash-completion/completions/targetd-cli",
        "/usr/share/zsh/vendor-completions/_targetd-cli",
    ):
        assert path in files, f"targetd-client lacks {path}"


def test_no_package_ships_targetctl(
    debs: dict[str, Path], built: dict[str, Built], venv: Path
) -> None:
    """rtslib-fb (which targetd-lio depends on) owns /usr/bin/targetctl."""
    # Beside targetd-lio (and so rtslib-fb) in one environment, the client is targetd-cli.
    r = _run([str(venv / "bin" / "targetd-cli"), "--version"])
    assert r.returncode == 0 and r.stdout.startswith("targetd-cli "), r.stdout + r.stderr
    for name, deb in debs.items():
        assert not any(p.endswith("/targetctl") for p in _deb_contents(deb)), name
    for name, b in built.items():
        assert "targetctl" not in b.entry_points().get("console_scripts", {}), name
    client = ROOT / "clients" / "targetd-client"
    tracked = _run(["git", "-C", str(ROOT), "ls-files", "-z", str(client)]).stdout
    for rel in filter(None, tracked.split("\0")):
        path = ROOT / rel
        if path.is_file() and not path.is_symlink():
            assert "targetctl" not in path.read_text(errors="replace"), rel


def test_deb_contents(debs: dict[str, Path], built: dict[str, Built]) -> None:
    core = _deb_contents(debs["targetd-core"])
    assert set(core.values()) == {"root/root"}
    for path in (
        "/usr/bin/targetd",
        "/usr/lib/systemd/system/targetd.service",
        "/usr/share/man/man8/targetd.8.gz",
        "/usr/share/man/man5/targetd.yaml.5.gz",
        "/usr/share/doc/targetd-core/examples/targetd.yaml",
        "/usr/share/doc/targetd-core/copyright",
        f"/{SITE}/targetd_core/__init__.py",
    ):
        assert path in core, f"targetd-core lacks {path}"
    # Each requirement of the core is either a Debian dependency or vendored.
    depends = " ".join(_depends(debs["targetd-core"]))
    vendored = {
        _norm(p.split("/")[-2].split("-")[0])
        for p in core
        if p.startswith(f"/{SITE}/") and p.endswith(".dist-info/METADATA")
    }
    for req in built["targetd-core"].requires():
        deb_name = {"pyyaml": "python3-yaml"}.get(req, f"python3-{req}")
        assert deb_name in depends or req in vendored, f"{req}: neither depended on nor vendored"
    for name in ("targetd-lvm", "targetd-lio"):
        files = _deb_contents(debs[name])
        pkg = name.replace("-", "_")
        assert f"/{SITE}/{pkg}/plugin.py" in files
        assert any(p.endswith(".dist-info/entry_points.txt") for p in files)
        assert not any(p.startswith("/usr/bin/") and not p.endswith("/") for p in files)


def test_deb_runs_on_debian_python(debs: dict[str, Path], tmp_path: Path) -> None:
    """The packages unpacked, run by Debian's /usr/bin/python3 with Debian's packages of
    the dependencies (installed here if missing), exactly as /usr/bin/targetd would."""
    python = Path("/usr/bin/python3")
    assert python.exists(), "no Debian python3: apt-get install python3"
    wanted = sorted(
        {d.split()[0] for deb in debs.values() for d in _depends(deb) if d.startswith("python3-")}
    )
    status = _run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *wanted])
    installed = {ln.split()[0] for ln in status.stdout.splitlines() if ln.endswith(" installed")}
    missing = [p for p in wanted if p not in installed]
    if missing:
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        apt = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
        if _run(apt, env=env).returncode != 0:
            _run(["apt-get", "update", "-qq"], env=env)
            r = _run(apt, env=env)
            assert r.returncode == 0, r.stdout + r.stderr
    root = tmp_path / "root"
    for name in ("targetd-core", "targetd-lvm", "targetd-lio"):
        assert _run(["dpkg-deb", "-x", str(debs[name]), str(root)]).returncode == 0
    wrapper = (root / "usr/bin/targetd").read_text()
    assert wrapper.startswith("#!/usr/bin/python3 -I\n")
    local = tmp_path / "targetd"
    local.write_text(wrapper.replace(f"/{SITE}", str(root / SITE)))
    cfg = tmp_path / "targetd.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "password": "x",
                "state_dir": str(tmp_path / "state"),
                "block_pools": [],
                "lio_state_file": str(tmp_path / "lio.json"),
            }
        )
    )
    cfg.chmod(0o600)  # targetd refuses a configuration others can read
    targetd = [str(python), "-I", str(local), "-c", str(cfg)]
    r = _run([*targetd[:3], "--version"])
    assert r.returncode == 0 and r.stdout.startswith("targetd "), r.stderr
    r = _run([*targetd, "plugins", "--json"])
    assert r.returncode == 0, r.stderr
    listed = {p["name"]: p for p in json.loads(r.stdout)}
    assert set(listed) == {"core", "lvm", "lio"}
    assert "methods" in listed["lio"], r.stdout
    r = _run([*targetd, "check"])
    assert r.returncode == 0, r.stderr


# --- RPM packages ----------------------------------------------------------------------

RPM_NAMES = {
    "targetd",
    "targetd-lvm",
    "targetd-zfs",
    "targetd-btrfs-fs",
    "targetd-lio",
    "targetd-nfs",
    "python3-targetd-client",
}


def _source_tarball(dest: Path, prefix: str) -> None:
    """What `git archive` makes of the working tree: the tracked files as they are now."""
    tracked = _run(["git", "-C", str(ROOT), "ls-files", "-z"]).stdout.split("\0")
    with tarfile.open(dest, "w:gz") as tar:
        for rel in filter(None, tracked):
            if os.path.lexists(ROOT / rel):
                tar.add(ROOT / rel, arcname=f"{prefix}/{rel}", recursive=False)


def test_rpm_builds(build_python: str, tmp_path: Path) -> None:
    """targetd.spec, built by rpmbuild (Debian's rpm, with rpm-macros.ci standing in for
    Fedora's macros): every package, the epoch that makes it upgrade the old 0.10.x
    package, the licence, the kept configuration, and %check running the unit tests."""
    rpmbuild = shutil.which("rpmbuild")
    assert rpmbuild, "rpmbuild is missing: apt-get install rpm"
    version = next(iter(DISTS[0].versions().values()))
    top = tmp_path / "rpmbuild"
    (top / "SOURCES").mkdir(parents=True)
    _source_tarball(top / "SOURCES" / f"targetd-{version}.tar.gz", f"targetd-{version}")
    r = _run(
        [rpmbuild, "-bb", "--nodeps", "--define", f"_topdir {top}",
         "--define", f"tdversion {version}",
         "--load", str(PACKAGING / "rpm-macros.ci"),
         "--define", f"python3 {build_python}", "--define", f"check_python {sys.executable}",
         str(PACKAGING / "targetd.spec")],
        timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "Executing(%check)" in r.stderr + r.stdout
    assert re.search(r"=+ \d+ passed", r.stdout), r.stdout[-2000:]
    rpms = {p.name.rsplit("-", 2)[0]: p for p in (top / "RPMS" / "noarch").glob("*.rpm")}
    assert set(rpms) == RPM_NAMES

    def query(rpm: Path, *args: str) -> str:
        q = _run(["rpm", "-qp", *args, str(rpm)])
        assert q.returncode == 0, q.stderr
        return q.stdout

    for name, rpm in rpms.items():
        assert query(rpm, "--qf", "%{EPOCH}:%{VERSION}") == f"1:{version}", name
        assert query(rpm, "--qf", "%{LICENSE}") == "GPL-3.0-or-later"
        assert any(line.endswith("/LICENSE") for line in query(rpm, "--licensefiles").split())
        if name != "targetd" and name != "python3-targetd-client":
            assert f"targetd = 1:{version}-1" in query(rpm, "--requires").splitlines()
    flags = query(rpms["targetd"], "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]").splitlines()
    assert "cn /etc/target/targetd.yaml" in flags  # %config(noreplace): the admin's file stays
    newer = _run(["rpm", "--eval", f'%{{lua: print(rpm.vercmp("1:{version}-1", "0.10.9-1"))}}'])
    assert newer.stdout.strip() == "1", "does not upgrade the old daemon's 0.10.x package"
    client = query(rpms["python3-targetd-client"], "-l").split()
    assert "/usr/bin/targetd-cli" in client and "/usr/share/man/man1/targetd-cli.1" in client


# --- contrib/quickstart ----------------------------------------------------------------

QUICKSTART = ROOT / "contrib" / "quickstart"
MODULES = ["configfs", "target_core_mod", "target_core_iblock", "iscsi_target_mod", "dm_thin_pool"]


def _quickstart_fn(
    call: str, tmp_path: Path, modprobe_rc: int = 0
) -> subprocess.CompletedProcess[str]:
    """Source contrib/quickstart (only its functions) and run ``call``, with a fake
    modprobe that records its arguments."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    log = tmp_path / "modprobe.log"
    (fake / "modprobe").write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f'[ {modprobe_rc} = 0 ] || echo "modprobe: FATAL: Module iscsi_target_mod not found" >&2\n'
        f"exit {modprobe_rc}\n"
    )
    (fake / "modprobe").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/sbin:/usr/bin:/sbin:/bin"}
    return _run(["bash", "-c", f"set -euo pipefail; source {QUICKSTART}; {call}"], env=env)


def test_quickstart_loads_every_module(tmp_path: Path) -> None:
    r = _quickstart_fn("load_modules", tmp_path)
    assert r.returncode == 0, r.stderr
    # One modprobe -a: without -a, the names after the first are the first's options.
    assert (tmp_path / "modprobe.log").read_text().split() == ["-a", *MODULES]


def test_quickstart_stops_when_a_module_is_missing(tmp_path: Path) -> None:
    r = _quickstart_fn("load_modules; echo STILL-RUNNING", tmp_path, modprobe_rc=1)
    assert r.returncode != 0 and "STILL-RUNNING" not in r.stdout
    assert "cannot load kernel modules" in r.stderr and "iscsi_target_mod not found" in r.stderr
    # ...and the script calls it bare (set -e), not behind `|| true`.
    assert re.search(r"^load_modules$", QUICKSTART.read_text(), re.MULTILINE)


def test_quickstart_health_wait(tmp_path: Path) -> None:
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        ok = _quickstart_fn(f"wait_healthy http://127.0.0.1:{port}/healthz 4", tmp_path)
        assert ok.returncode == 0, ok.stderr
        bad = _quickstart_fn(f"wait_healthy http://127.0.0.1:{port}/nothing 2", tmp_path)
        assert bad.returncode == 1 and "did not answer" in bad.stderr
    finally:
        server.shutdown()
    # "targetd is running" is printed only after the wait succeeded.
    text = QUICKSTART.read_text()
    wait = re.search(r"^if ! wait_healthy \S+ \d+; then\n(?:.*\n)*?    exit 1\nfi\n", text, re.M)
    assert wait, "the health wait does not stop the script when it fails"
    assert text.index("targetd is running") > wait.end()


def test_deb_service_restarts_once_per_dpkg_run(debs: dict[str, Path], tmp_path: Path) -> None:
    """dpkg itself (a private database and root, scripts run outside a chroot) installs,
    upgrades and removes the packages; the maintainer scripts' systemd calls are replaced
    by lines that record them. An upgrade of the core and five plugins restarts once."""
    admin, inst, record = tmp_path / "admin", tmp_path / "inst", tmp_path / "calls"
    for d in (admin / "updates", admin / "info", inst):
        d.mkdir(parents=True)
    (admin / "status").touch()
    (admin / "available").touch()
    dpkg = ["dpkg", f"--admindir={admin}", f"--instdir={inst}", "--force-script-chrootless"]
    # Stand-ins for what the packages depend on, so dpkg's dependency checks pass.
    relations: dict[str, list[tuple[str, str]]] = {}
    for deb in debs.values():
        for dep in _depends(deb):
            m = re.fullmatch(r"(\S+)(?: \((\S+) (\S+)\))?", dep)
            assert m, dep
            rel = relations.setdefault(m.group(1), [])
            if m.group(2):
                rel.append((m.group(2), m.group(3)))

    def satisfying(rels: list[tuple[str, str]]) -> str:
        for v in ("99", "4.99", "1.0"):
            ops = {">=": "ge", "<<": "lt", "=": "eq", "<=": "le", ">>": "gt"}
            if all(
                _run(["dpkg", "--compare-versions", v, ops[op], ver]).returncode == 0
                for op, ver in rels
            ):
                return v
        raise AssertionError(f"no stand-in version for {rels}")

    stand_ins = []
    for name in sorted(set(relations) - set(debs)):
        root = tmp_path / "dummy" / name
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {satisfying(relations[name])}\nArchitecture: all\n"
            "Maintainer: x <x@example.org>\nDescription: stand-in\n"
        )
        assert _run(["dpkg-deb", "-b", str(root), f"{root}.deb"]).returncode == 0
        stand_ins.append(f"{root}.deb")
    r = _run([*dpkg, "-i", *stand_ins])
    assert r.returncode == 0, r.stderr
    names = ["targetd-core", *PLUGINS]
    patched = []
    (tmp_path / "x").mkdir()
    for name in names:
        tree = tmp_path / "x" / name
        assert _run(["dpkg-deb", "-R", str(debs[name]), str(tree)]).returncode == 0
        postinst = tree / "DEBIAN" / "postinst"
        text = postinst.read_text().replace("if [ -d /run/systemd/system ]", "if true")
        text = text.replace(
            "deb-systemd-invoke try-restart targetd.service >/dev/null || true",
            f"echo restart >> {record}",
        ).replace("systemctl --system daemon-reload >/dev/null || true", f"echo reload >> {record}")
        postinst.write_text(text)
        assert _run(["dpkg-deb", "-b", str(tree), f"{tree}.deb"]).returncode == 0
        patched.append(f"{tree}.deb")

    def calls() -> list[str]:
        out = record.read_text().split() if record.exists() else []
        record.unlink(missing_ok=True)
        return out

    def dpkg_ok(*args: str) -> None:
        r = _run([*dpkg, *args])
        assert r.returncode == 0, r.stdout + r.stderr

    dpkg_ok("-i", *patched)  # fresh install (nothing runs yet: try-restart is a no-op)
    assert calls().count("restart") == 1
    dpkg_ok("-i", *patched)  # upgrade of all six in one run
    assert calls() == ["reload", "restart"]
    # as apt does it: unpack, configure without triggers, then the pending ones
    dpkg_ok("--no-triggers", "--unpack", *patched)
    dpkg_ok("--no-triggers", "--configure", *names)
    dpkg_ok("--configure", "--pending")
    assert calls() == ["reload", "restart"]
    dpkg_ok("-i", patched[1])  # one plugin
    assert calls() == ["restart"]
    dpkg_ok("-r", PLUGINS[-1])  # removing a plugin unloads it
    assert calls() == ["restart"]
    dpkg_ok("-P", *names[1:-1], "targetd-core")
    assert calls() == []
