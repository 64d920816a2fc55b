"""Host NQNs, subsystem names, namespace identity and DH-HMAC-CHAP secrets: whole-string
rules, checked with generated input."""

from __future__ import annotations

import base64
import os
import uuid
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from targetd_nvmet import naming

from targetd_core.plugin import TargetdError, check_component

PREFIX = "nqn.2003-01.org.targetd:test"
try:
    naming.check_dhchap_secret("x", "host key")
except TargetdError as _e:
    FIXED = _e.message


def secret(length: int = 32, hh: str = "00") -> str:
    key = os.urandom(length)
    raw = key + zlib.crc32(key).to_bytes(4, "little")
    return f"DHHC-1:{hh}:{base64.b64encode(raw).decode()}:"


@pytest.mark.parametrize(
    "nqn",
    ["nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
     "nqn.2014-08.com.example:nvme:nvm-subsystem-sn-d78432", "nqn.2016-06.io.spdk:host1",
     "nqn.2014-08.org.example"],
)  # fmt: skip
def test_real_nqns_are_accepted(nqn: str) -> None:
    assert naming.check_nqn(nqn) == nqn


@pytest.mark.parametrize(
    "nqn",
    ["", "nqn", "iqn.2014-08.org.example:a", "nqn.2014-13.org.example:a",
     "nqn.2014-08.org.example:a/b", "nqn.2014-08.org.example:a\n", "nqn.2014-08.org.example: a",
     "nqn.2014-08.Org.example:a", "nqn.2014-08.org.example:" + "a" * 200,
     "nqn.2014-08.org.nvmexpress.discovery", "nqn.2014-08.org.example:a\x00", 7, None],
)  # fmt: skip
def test_bad_nqns_are_refused(nqn: object) -> None:
    with pytest.raises(TargetdError) as e:
        naming.check_nqn(nqn)
    assert e.value.code == -32602


@given(st.text(max_size=300))
def test_an_accepted_nqn_is_one_plain_path_component(text: str) -> None:
    try:
        naming.check_nqn(text)
    except TargetdError:
        return
    assert check_component(text) == text
    assert len(text.encode()) <= naming.NQN_MAX and text.isascii()
    assert naming.NQN_RE.fullmatch(text)


@given(st.text(min_size=1, max_size=223))
def test_subsystem_names_are_valid_ours_and_distinct(host: str) -> None:
    sub = naming.subsystem_nqn(PREFIX, host)
    assert naming.check_nqn(sub, "subsystem NQN") == sub
    assert naming.is_targetd_subsystem(PREFIX, sub)
    assert not naming.is_targetd_subsystem("nqn.2003-01.org.targetd:other", sub)
    assert naming.subsystem_nqn(PREFIX, host + "x") != sub


def test_identity_derives_from_the_volume_uuid() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert naming.namespace_uuid(a) == naming.namespace_uuid(a)
    assert naming.namespace_uuid(a) != naming.namespace_uuid(b)
    assert naming.namespace_uuid("11") == uuid.uuid5(naming.IDENTITY_NAMESPACE, "11")


@pytest.mark.parametrize("length,hh", [(32, "00"), (32, "01"), (48, "02"), (64, "03")])
def test_well_formed_secrets(length: int, hh: str) -> None:
    s = secret(length, hh)
    assert naming.check_dhchap_secret(s, "host key") == s


@given(st.text(max_size=120))
def test_malformed_secrets_are_refused_without_echo(text: str) -> None:
    try:
        naming.check_dhchap_secret(text, "host key")
    except TargetdError as e:
        assert e.code == -32602
        assert e.message == FIXED  # the same whatever was sent: nothing is echoed
        return
    # anything accepted has the right CRC (random text essentially never does)
    assert naming.DHCHAP_RE.fullmatch(text)


def test_a_flipped_bit_fails_the_crc() -> None:
    s = secret()
    raw = bytearray(base64.b64decode(s.split(":")[2]))
    raw[0] ^= 1
    bad = f"DHHC-1:00:{base64.b64encode(bytes(raw)).decode()}:"
    with pytest.raises(TargetdError):
        naming.check_dhchap_secret(bad, "host key")
    for wrong in (secret(16), secret(32, "04"), secret()[:-1], secret() + "\n"):
        with pytest.raises(TargetdError):
            naming.check_dhchap_secret(wrong, "host key")
