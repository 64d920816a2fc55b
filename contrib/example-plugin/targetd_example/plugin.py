"""The example plugin: what a complete third-party backend looks like.

- a configuration key, ``example_file_pools``: directories that become block pools
  whose volumes are sparse files (``<dir>/<name>.img``);
- the :class:`FilePool` block pool (the core does pool_list/vol_* routing and checks);
- a few RPC methods of its own, to show typed parameters, secrets and the lock.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from targetd_core.plugin import (
    BlockPool,
    ConfigError,
    ConfigOption,
    Declare,
    Name,
    PoolInfo,
    Register,
    Volume,
    check_name,
    impl,
    rpc_method,
)


class FilePool(BlockPool):
    """Volumes are sparse files in a directory; a volume's uuid is kept beside it."""

    def __init__(self, directory: str) -> None:
        super().__init__(directory)
        self.dir = Path(directory)

    def check(self) -> None:
        if not self.dir.is_dir():
            raise ConfigError("example_file_pools", f"{self.dir} is not a directory")

    def _img(self, name: str) -> Path:
        return self.dir / f"{check_name(name)}.img"

    def _uuid_file(self, name: str) -> Path:
        return self.dir / f".{check_name(name)}.uuid"

    def info(self) -> PoolInfo:
        usage = shutil.disk_usage(self.dir)
        pool_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"file://{self.dir.resolve()}"))
        return PoolInfo(self.name, usage.total, usage.free, "block", pool_uuid)

    def list_volumes(self) -> list[Volume]:
        vols = []
        for img in sorted(self.dir.glob("*.img")):
            name = img.name[: -len(".img")]
            try:
                vols.append(Volume(name, img.stat().st_size, self._uuid_file(name).read_text()))
            except FileNotFoundError:  # being created or destroyed right now
                continue
        return vols

    def create_volume(self, name: str, size: int) -> None:
        self._uuid_file(name).write_text(str(uuid.uuid4()))
        with open(self._img(name), "xb") as f:
            f.truncate(size)

    def destroy_volume(self, name: str) -> None:
        self._img(name).unlink()
        self._uuid_file(name).unlink(missing_ok=True)

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        try:
            self._uuid_file(dst).write_text(str(uuid.uuid4()))
            shutil.copyfile(self._img(src), self._img(dst))
            if size is not None:
                os.truncate(self._img(dst), size)
        except BaseException:
            self._img(dst).unlink(missing_ok=True)
            self._uuid_file(dst).unlink(missing_ok=True)
            raise

    def resize_volume(self, name: str, size: int) -> None:
        os.truncate(self._img(name), size)

    def device_path(self, name: str) -> str:
        return str(self._img(name))


@rpc_method(changes_storage=False)
def example_echo(text: str, name: Name | None = None) -> dict[str, str | None]:
    """Echo ``text`` back (and a name, checked against the contract's rule)."""
    return {"text": text, "name": name}


@rpc_method(changes_storage=False, secret_params=("token",))
def example_login(user: str, token: str) -> bool:
    """Demonstrates a secret parameter: ``token`` never appears in any log."""
    return bool(user and token)


@rpc_method(changes_storage=True)
def example_slow_change(seconds: float) -> list[float]:
    """Hold the exclusive storage lock for ``seconds``; returns [start, end] times."""
    start = time.time()
    time.sleep(min(seconds, 10.0))
    return [start, time.time()]


@rpc_method(changes_storage=False)
def example_slow_read(seconds: float) -> list[float]:
    """Hold the shared storage lock for ``seconds``; returns [start, end] times."""
    start = time.time()
    time.sleep(min(seconds, 10.0))
    return [start, time.time()]


@rpc_method(changes_storage=False)
def example_crash() -> None:
    """Raise an unexpected exception (to show it is logged, and answered -1)."""
    raise RuntimeError("example internal detail /secret/path that must not leak")


EXAMPLE_METHODS = (
    example_echo,
    example_login,
    example_slow_change,
    example_slow_read,
    example_crash,
)


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_option(
        ConfigOption(
            "example_file_pools", list[str], [], "directories used as block pools of sparse files"
        )
    )


@impl
def targetd_register(register: Register) -> None:
    register.block_pool(*(FilePool(d) for d in register.config["example_file_pools"]))
    register.rpc_method(*EXAMPLE_METHODS)
