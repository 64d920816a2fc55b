"""contrib/appliance reads the Debian packages to preinstall in the storage-host image from the
built .debs' Depends and Recommends (deb_relations): the project's own packages left out, the
first of each set of alternatives, no versions or architecture qualifiers."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

APPLIANCE = Path(__file__).resolve().parents[2] / "contrib" / "appliance"


def load_appliance() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("contrib_appliance", str(APPLIANCE))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def make_deb(tmp: Path, package: str, **fields: str) -> str:
    root = tmp / package
    (root / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {package}", "Version: 1.0-1", "Architecture: all"]
    control += [f"{k}: {v}" for k, v in fields.items()]
    control += ["Maintainer: t <t@example.org>", "Description: test"]
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    out = tmp / f"{package}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)],
        check=True,
        capture_output=True,
    )
    return str(out)


def test_relations_of_the_debs(tmp_path: Path) -> None:
    app = load_appliance()
    debs = [
        make_deb(
            tmp_path,
            "targetd-core",
            Depends="python3 (>= 3.11), python3-yaml (>= 6), libc6:any",
            Recommends="python3-foo | python3-bar",
        ),
        make_deb(tmp_path, "targetd-lvm", Depends="targetd-core (= 1.0-1), lvm2"),
        make_deb(tmp_path, "targetd-client", Depends="python3"),
    ]
    assert app.deb_relations(debs) == ["libc6", "lvm2", "python3", "python3-foo", "python3-yaml"]


def test_an_unreadable_relation_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_appliance()
    # what dpkg-deb -f would print for a control file with an unexpanded substitution
    control = "Package: targetd-core\nDepends: python3, ${misc:Depends}\n"
    monkeypatch.setattr(app, "run", lambda *a, **kw: control)
    with pytest.raises(app.Fail, match="cannot read the package name"):
        app.deb_relations(["targetd-core.deb"])
