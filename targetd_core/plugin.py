"""The public API for plugin authors: everything a plugin imports from the core.

Example (a complete plugin)::

    from targetd_core.plugin import ErrorCode, Name, Register, TargetdError, impl, rpc_method

    NOT_POLITE = ErrorCode(-7001, "NOT_POLITE", "the name is not a polite one")

    @rpc_method(changes_storage=False, errors=(NOT_POLITE,))
    def hello(name: Name) -> str:
        "Say hello."
        if name == "rude":
            raise TargetdError(NOT_POLITE, "say it nicely")
        return f"hello {name}"

    @impl
    def targetd_declare(declare):
        declare.error_code(NOT_POLITE)

    @impl
    def targetd_register(register: Register) -> None:
        register.rpc_method(hello)

:mod:`targetd_core.testing` runs such a plugin in-process for its tests.
"""

from __future__ import annotations

import pluggy

from .config import Config, ConfigOption
from .core import Core
from .errors import Code, ConfigError, ErrorCode, TargetdError
from .locking import StorageLock
from .methods import RpcMethod, rpc_method
from .names import check_name, check_size
from .params import BoolLike, Lun, Name, PoolName, Size
from .paths import check_component, safe_join
from .pools import (
    BlockPool,
    ExportHandler,
    FileSystem,
    FsPool,
    PoolInfo,
    Snapshot,
    Volume,
    detach_quietly,
    device_size,
)
from .registry import Declare, Register
from .tools import run, tool_error
from .undo import Undo

#: Marks a function of a plugin module as the implementation of a hook of
#: :mod:`targetd_core.hookspecs`; ``@impl(wrapper=True)``, ``tryfirst``, ``trylast``
#: and ``specname`` as pluggy documents.
impl = pluggy.HookimplMarker("targetd")

__all__ = [
    "BlockPool",
    "BoolLike",
    "Code",
    "Config",
    "ConfigError",
    "ConfigOption",
    "Core",
    "Declare",
    "ErrorCode",
    "ExportHandler",
    "FileSystem",
    "FsPool",
    "Lun",
    "Name",
    "PoolName",
    "PoolInfo",
    "Register",
    "RpcMethod",
    "Size",
    "Snapshot",
    "StorageLock",
    "TargetdError",
    "Undo",
    "Volume",
    "check_component",
    "check_name",
    "check_size",
    "detach_quietly",
    "device_size",
    "impl",
    "rpc_method",
    "run",
    "safe_join",
    "tool_error",
]
