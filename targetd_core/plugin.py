"""The public API for plugin authors: everything a plugin imports from the core.

Example (a complete plugin)::

    from targetd_core.plugin import impl, rpc_method, Name

    @rpc_method(changes_storage=False)
    def hello(name: Name) -> str:
        "Say hello."
        return f"hello {name}"

    @impl
    def targetd_rpc_methods(core):
        return [hello]
"""

from __future__ import annotations

import pluggy

from .config import ConfigOption
from .core import Core
from .errors import Code, ConfigError, TargetdError
from .methods import RpcMethod, rpc_method
from .names import check_name, check_size
from .params import BoolLike, Lun, Name, PoolName, Size
from .paths import check_component, safe_join
from .pools import BlockPool, ExportHandler, FileSystem, FsPool, PoolInfo, Snapshot, Volume
from .tools import run, tool_error

#: Marks a function of a plugin module as the implementation of a hook of
#: :mod:`targetd_core.hookspecs`.
impl = pluggy.HookimplMarker("targetd")

__all__ = [
    "BlockPool",
    "BoolLike",
    "Code",
    "ConfigError",
    "ConfigOption",
    "Core",
    "ExportHandler",
    "FileSystem",
    "FsPool",
    "Lun",
    "Name",
    "PoolName",
    "PoolInfo",
    "RpcMethod",
    "Size",
    "Snapshot",
    "TargetdError",
    "Volume",
    "check_component",
    "check_name",
    "check_size",
    "impl",
    "rpc_method",
    "run",
    "safe_join",
    "tool_error",
]
