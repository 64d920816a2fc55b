"""Guest-side helpers of the ZFS real-kernel tests (tests/realkernel/test_zfs.py)."""

import hashlib
import uuid

BLOCK = "zfs-targetd/block"
FS_POOL = "/zfs-targetd/fs"
FS_DS = "zfs-targetd/fs"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def sh(guest_exec, script: str, check: bool = True):
    return guest_exec(script, check=check)


def out(guest_exec, script) -> str:
    return guest_exec(script).stdout.decode()


def zget(guest_exec, prop: str, dataset: str) -> str:
    return out(guest_exec, ["zfs", "get", "-Hp", "-o", "value", prop, dataset]).strip()


def zexists(guest_exec, dataset: str) -> bool:
    return guest_exec(["zfs", "list", "-H", "-o", "name", dataset], check=False).returncode == 0


def wait_block_device(guest_exec, path: str) -> str:
    """Wait (up to 10 s) for a block device node/link; return the real node."""
    guest_exec(
        f"for i in $(seq 100); do [ -b {path} ] && exit 0; sleep 0.1; done; "
        f"echo 'no block device {path}' >&2; exit 1"
    )
    return out(guest_exec, ["readlink", "-f", path]).strip()


def write_pattern(guest_exec, device: str, offset_mib: int, seed: bytes) -> str:
    """Write 1 MiB of deterministic data at offset_mib into device; return its sha256."""
    data = hashlib.sha256(seed).digest() * (1 << 15)  # 1 MiB
    guest_exec(
        [
            "dd",
            f"of={device}",
            "bs=1M",
            f"seek={offset_mib}",
            "count=1",
            "conv=fsync,notrunc",
            "iflag=fullblock",
            "status=none",
        ],
        input=data,
    )
    return hashlib.sha256(data).hexdigest()


def read_sha(guest_exec, device: str, offset_mib: int) -> str:
    cp = guest_exec(
        f"dd if={device} bs=1M skip={offset_mib} count=1 status=none iflag=direct | sha256sum"
    )
    return cp.stdout.decode().split()[0]


def leftovers(guest_exec, dataset: str) -> list[str]:
    """Hidden temporaries of targetd's copies under dataset (must be none)."""
    names = out(guest_exec, ["zfs", "list", "-H", "-o", "name", "-t", "all", "-r", dataset])
    return [n for n in names.split() if "targetd.tmp-" in n or "targetd.copy-" in n]


def guest_python(guest_exec, code: str, check: bool = False):
    """Run Python in the guest with targetd's installed site (as the daemon sees it)."""
    return guest_exec(["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c", code], check=check)


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("hashlib", "os", "uuid")]
