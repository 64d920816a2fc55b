from __future__ import annotations

import base64
from pathlib import Path

import pytest

from targetd_core.auth import Authenticator, Verdict, parse_basic
from targetd_core.config import CORE_OPTIONS, check, parse_bind
from targetd_core.logs import redact_params


def basic(s: str) -> str:
    return "Basic " + base64.b64encode(s.encode()).decode()


def test_parse_basic() -> None:
    assert parse_basic(None) is None
    assert parse_basic(basic("u:p:q")) == ("u", "p:q")
    assert parse_basic(basic("nocolon")) is Verdict.MALFORMED
    assert parse_basic("Basic ***") is Verdict.MALFORMED
    assert parse_basic("Digest x") is Verdict.MALFORMED


def test_authenticator(tmp_path: Path) -> None:
    a = Authenticator("admin", "pw", tmp_path / "t", delay=0.01)
    assert a.check(basic("admin:pw")) == (Verdict.OK, "admin")
    assert a.check(basic("admin:px"))[0] is Verdict.WRONG
    assert a.check(basic("root:pw"))[0] is Verdict.WRONG
    with a.tarpit("1.2.3.4") as delayed:
        assert delayed
        assert a.being_delayed("1.2.3.4")
        with a.tarpit("1.2.3.4") as again:
            assert not again
    assert not a.being_delayed("1.2.3.4")


@pytest.mark.parametrize(
    "value,expected",
    [("0.0.0.0:18700", ("0.0.0.0", 18700)), ("[::1]:1", ("::1", 1)), ("host:0", ("host", 0))],
)
def test_parse_bind(value: str, expected: tuple) -> None:
    assert parse_bind(value) == expected


@pytest.mark.parametrize("value", ["18700", ":80", "a:b", "a:70000"])
def test_parse_bind_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_bind(value)


def test_config_defaults_and_unknown() -> None:
    cfg, errors, unknown = check({"password": "x", "zzz": 1}, CORE_OPTIONS)
    assert not errors and unknown == ["zzz"]
    assert cfg["user"] == "admin" and cfg["bind"] == "0.0.0.0:18700" and cfg["ssl"] is False


def test_redact_params() -> None:
    out = redact_params(
        {"in_user": "u", "in_pass": "s", "out_pass": None, "token": "t"}, extra=["token"]
    )
    assert out == {"in_user": "u", "in_pass": "<redacted>", "out_pass": None, "token": "<redacted>"}
