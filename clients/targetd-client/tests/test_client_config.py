from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from targetd_client.config import ConfigurationError, default_config_path, load_settings

ENV = {
    "TARGETD_URL": "https://array.example:18700/targetrpc",
    "TARGETD_USER": "envuser",
    "TARGETD_PASSWORD": "envpass",
    "TARGETD_CA": "/etc/ca.pem",
}


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_environment(tmp_path: Path) -> None:
    s = load_settings(env={**ENV, "HOME": str(tmp_path)})
    assert (s.url, s.user, s.password, s.ca, s.insecure) == (
        ENV["TARGETD_URL"],
        "envuser",
        "envpass",
        "/etc/ca.pem",
        False,
    )
    assert "envpass" not in repr(s)


def test_flags_beat_environment_beat_config(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "t.toml",
        'url = "cfg-host"\nuser = "cfguser"\npassword = "cfgpass"\nca = "ca.pem"\ntimeout = 9\n',
    )
    env = {"TARGETD_CLI_CONFIG": str(cfg)}
    s = load_settings(env=env)
    assert s.url == "https://cfg-host:18700/targetrpc"
    assert (s.user, s.password, s.ca, s.timeout) == (
        "cfguser",
        "cfgpass",
        str(tmp_path / "ca.pem"),
        9,
    )
    s = load_settings(env={**env, **ENV})
    assert (s.user, s.password, s.ca) == ("envuser", "envpass", "/etc/ca.pem")
    pw = write(tmp_path / "pw", "filepass\n")
    s = load_settings(url="http://x:1", user="flaguser", password_file=str(pw), env={**env, **ENV})
    assert (s.url, s.user, s.password) == ("http://x:1/targetrpc", "flaguser", "filepass")


def test_default_path_is_xdg(tmp_path: Path) -> None:
    assert default_config_path({"HOME": "/home/u"}) == Path("/home/u/.config/targetd-cli.toml")
    assert default_config_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/targetd-cli.toml")
    write(tmp_path / "targetd-cli.toml", 'url = "h"\npassword_file = "secret"\n')
    write(tmp_path / "secret", "pw-from-file")
    s = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert (s.url, s.user, s.password) == ("https://h:18700/targetrpc", "admin", "pw-from-file")


def test_missing_url_or_password(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(ConfigurationError, match="no targetd URL"):
        load_settings(env=env)
    with pytest.raises(ConfigurationError, match="no password"):
        load_settings(url="h", env=env)
    # a terminal is asked
    s = load_settings(url="h", env=env, prompt=lambda msg: "typed")
    assert s.password == "typed"


def test_world_readable_file_with_password_warns(tmp_path: Path) -> None:
    cfg = write(tmp_path / "t.toml", 'url = "h"\npassword = "p"\n', mode=0o644)
    warnings: list[str] = []
    load_settings(config=str(cfg), env={}, warn=warnings.append)
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "0644" in warnings[0]
    os.chmod(cfg, 0o600)
    warnings.clear()
    load_settings(config=str(cfg), env={}, warn=warnings.append)
    assert warnings == []
    # no password in it: no warning whatever the mode
    cfg2 = write(tmp_path / "u.toml", 'url = "h"\n', mode=0o644)
    load_settings(config=str(cfg2), env={"TARGETD_PASSWORD": "p"}, warn=warnings.append)
    assert warnings == []
    pw = write(tmp_path / "pw", "p\n", mode=0o640)
    load_settings(url="h", password_file=str(pw), env={}, warn=warnings.append)
    assert len(warnings) == 1 and str(pw) in warnings[0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("url = ", "not valid TOML"),
        ('uri = "h"', "unknown key"),
        ("url = 3", "url must be a string"),
        ('url = "h"\ninsecure = "yes"', "insecure must be"),
        ('url = "h"\ntimeout = -1', "timeout must be"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, match: str) -> None:
    cfg = write(tmp_path / "t.toml", text)
    with pytest.raises(ConfigurationError, match=match):
        load_settings(config=str(cfg), env={"TARGETD_PASSWORD": "p"})


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(config=str(tmp_path / "nope.toml"), env={})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("array", "https://array:18700/targetrpc"),
        ("array:1234", "https://array:1234/targetrpc"),
        ("http://array", "http://array:18700/targetrpc"),
        ("https://10.0.0.1:18700/targetrpc", "https://10.0.0.1:18700/targetrpc"),
        ("https://[::1]/", "https://[::1]:18700/targetrpc"),
    ],
)
def test_url_forms(url: str, expected: str) -> None:
    assert (
        load_settings(url=url, env={"TARGETD_PASSWORD": "p", "HOME": "/nonexistent"}).url
        == expected
    )


@pytest.mark.parametrize("url", ["ftp://h", "https://admin:pw@h", "http://h:port"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="bad targetd URL"):
        load_settings(url=url, env={"TARGETD_PASSWORD": "p", "HOME": "/nonexistent"})


def test_password_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\nrest\n"))
    s = load_settings(url="h", password_file="-", env={"HOME": "/nonexistent"})
    assert s.password == "from-stdin"
