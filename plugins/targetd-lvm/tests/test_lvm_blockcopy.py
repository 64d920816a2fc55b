"""Block copying and zeroing, on plain files (the ioctl falls back to writing zeros)."""

import os

import pytest
from targetd_lvm.blockcopy import CHUNK, copy_device, zero_device

from targetd_core.plugin import TargetdError


def test_copy_then_zero_the_rest(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    data = os.urandom(CHUNK + 12345)
    src.write_bytes(data + b"beyond")
    dst.write_bytes(b"\xff" * (2 * CHUNK + 7))  # stale data everywhere
    copy_device(str(src), str(dst), len(data))
    out = dst.read_bytes()
    assert len(out) == 2 * CHUNK + 7
    assert out[: len(data)] == data and out[len(data) :] == bytes(len(out) - len(data))


def test_zero_device(tmp_path):
    dst = tmp_path / "dst"
    dst.write_bytes(b"\x01" * (CHUNK + 3))
    zero_device(str(dst))
    assert dst.read_bytes() == bytes(CHUNK + 3)


def test_short_source_or_destination_is_minus_one(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"a" * 10)
    dst.write_bytes(b"b" * 100)
    with pytest.raises(TargetdError) as e:
        copy_device(str(src), str(dst), 50)
    assert e.value.code == -1 and "ended" in e.value.message
    with pytest.raises(TargetdError):
        copy_device(str(dst), str(src), 50)
    with pytest.raises(TargetdError) as e:
        copy_device(str(tmp_path / "missing"), str(dst), 1)
    assert "No such file" in e.value.message
