"""Filling a new block device: a copy of another one, or zeros. In Python, no ``dd``.

Every byte of the destination is written (copied or zeroed). Skipping zero blocks
(``dd conv=sparse``) would be wrong here: LVM zeroes only the first 4 KiB of a new
thick LV, so skipped blocks would show whatever an earlier LV left on those extents.
Zeroing uses the kernel's BLKZEROOUT (write-zeroes/discard where the device can,
written zero pages where it cannot), falling back to writing zeros for non-devices.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from targetd_core.plugin import Code, TargetdError

CHUNK = 4 * 1024 * 1024
BLKZEROOUT = 0x127F  # _IO(0x12, 127), linux/fs.h


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _zero_range(fd: int, start: int, length: int) -> None:
    if length <= 0:
        return
    try:
        fcntl.ioctl(fd, BLKZEROOUT, struct.pack("=QQ", start, length))
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    os.lseek(fd, start, os.SEEK_SET)
    zeros = memoryview(bytes(min(CHUNK, length)))
    while length > 0:
        n = min(len(zeros), length)
        _write_all(fd, zeros[:n])
        length -= n


def _failed(what: str, exc: OSError) -> TargetdError:
    return TargetdError(Code.UNEXPECTED, f"{what} failed: {exc.strerror or exc}")


def _size(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END)


def copy_device(src: str, dst: str, length: int) -> None:
    """Copy the first ``length`` bytes of ``src`` to ``dst``, zero the rest of ``dst``,
    and flush ``dst`` to stable storage."""
    try:
        with open(src, "rb", buffering=0) as fin, open(dst, "r+b", buffering=0) as fout:
            dst_length = _size(fout.fileno())
            if dst_length < length:
                raise OSError(0, f"{dst} ({dst_length} bytes) is smaller than {length} bytes")
            os.lseek(fout.fileno(), 0, os.SEEK_SET)
            remaining = length
            while remaining > 0:
                chunk = os.read(fin.fileno(), min(CHUNK, remaining))
                if not chunk:
                    raise OSError(0, f"{src} ended {remaining} bytes before its size")
                _write_all(fout.fileno(), chunk)
                remaining -= len(chunk)
            _zero_range(fout.fileno(), length, dst_length - length)
            os.fsync(fout.fileno())
    except OSError as exc:
        raise _failed(f"copying {src} to {dst}", exc) from None


def zero_device(dst: str) -> None:
    """Zero all of ``dst`` and flush it."""
    try:
        with open(dst, "r+b", buffering=0) as fout:
            _zero_range(fout.fileno(), 0, _size(fout.fileno()))
            os.fsync(fout.fileno())
    except OSError as exc:
        raise _failed(f"zeroing {dst}", exc) from None
