"""The objects a plugin's hooks receive to contribute to the core.

Each hook call gets its own object, made for that plugin: everything contributed through
it is recorded with the plugin's name (``targetd plugins``, ``rpc.discover``, and the
start-up errors name it). Two phases, two types:

- :class:`Declare` (hook ``targetd_declare``), before the configuration is read:
  configuration keys and error codes;
- :class:`Register` (hook ``targetd_register``), with the checked configuration: block
  pools, fs pools, export handlers, RPC methods, and the steps to run when the daemon
  starts serving and when a file system is destroyed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from .config import Config, ConfigOption
from .core import Core, FsDestroyStep
from .errors import ErrorCode
from .methods import RpcMethod
from .pools import BlockPool, ExportHandler, FsPool


class DeclareSink(Protocol):
    """Where :class:`Declare` puts what a plugin declares (the loader)."""

    def add_option(self, plugin: str, option: ConfigOption) -> None: ...
    def add_error_code(self, plugin: str, code: ErrorCode) -> None: ...


class RegisterSink(Protocol):
    """Where :class:`Register` puts what a plugin registers (the loader)."""

    def add_block_pool(self, plugin: str, pool: BlockPool) -> None: ...
    def add_fs_pool(self, plugin: str, pool: FsPool) -> None: ...
    def add_export_handler(self, plugin: str, handler: ExportHandler) -> None: ...
    def add_method(self, plugin: str, method: RpcMethod) -> None: ...
    def add_serve_step(self, plugin: str, step: Callable[[], None]) -> None: ...
    def add_fs_destroy_step(self, plugin: str, step: FsDestroyStep) -> None: ...


class Declare:
    """Given to ``targetd_declare(declare)``: what a plugin needs before the
    configuration is read. Nothing here may touch the host."""

    def __init__(self, plugin: str, sink: DeclareSink) -> None:
        self._plugin = plugin
        self._sink = sink

    @property
    def plugin(self) -> str:
        """The name of the plugin this object was made for."""
        return self._plugin

    def config_option(self, *options: ConfigOption) -> None:
        """Configuration keys this plugin reads, with types and defaults. Two plugins may
        declare the same key (``fs_pools``) if they agree on its type."""
        for opt in options:
            self._sink.add_option(self._plugin, opt)

    def config_options(self, options: Iterable[ConfigOption]) -> None:
        self.config_option(*options)

    def error_code(self, *codes: ErrorCode) -> None:
        """Error codes this plugin's methods answer (besides the core's :class:`Code`).
        A number declared by two plugins stops the daemon, naming both."""
        for code in codes:
            self._sink.add_error_code(self._plugin, code)


class Register:
    """Given to ``targetd_register(register)``: what a plugin contributes, built from
    the checked configuration. Must not change anything on the host (``targetd check``
    runs it too); what start-up must do to the host goes in :meth:`on_serve`."""

    def __init__(self, plugin: str, core: Core, sink: RegisterSink) -> None:
        self._plugin = plugin
        self._core = core
        self._sink = sink

    @property
    def plugin(self) -> str:
        """The name of the plugin this object was made for."""
        return self._plugin

    @property
    def core(self) -> Core:
        """The core being built: keep it to reach other plugins' pools when a call is
        served (they may not all be registered yet while this hook runs)."""
        return self._core

    @property
    def config(self) -> Config:
        """The checked configuration."""
        return self._core.config

    def block_pool(self, *pools: BlockPool) -> None:
        """Block pools this plugin owns; a pool name owned twice stops the daemon.
        The core calls each pool's ``check()``."""
        for pool in pools:
            self._sink.add_block_pool(self._plugin, pool)

    def fs_pool(self, *pools: FsPool) -> None:
        """File system pools (entries of ``fs_pools`` this plugin recognises)."""
        for pool in pools:
            self._sink.add_fs_pool(self._plugin, pool)

    def export_handler(self, *handlers: ExportHandler) -> None:
        """Export handlers: ``vol_destroy`` asks each whether a volume is still
        exported (-303)."""
        for handler in handlers:
            self._sink.add_export_handler(self._plugin, handler)

    def rpc_method(self, *methods: RpcMethod) -> None:
        """JSON-RPC methods (see :func:`~targetd_core.methods.rpc_method`); a name
        registered twice stops the daemon, naming both plugins."""
        for method in methods:
            self._sink.add_method(self._plugin, method)

    def rpc_methods(self, methods: Iterable[RpcMethod]) -> None:
        self.rpc_method(*methods)

    def on_serve(self, step: Callable[[], None]) -> None:
        """Run ``step`` once when the daemon is about to serve: in the main process,
        holding the storage lock, before the workers start; never for ``targetd check``.
        Restoring kernel state after a reboot belongs here. An exception stops the
        daemon with its message."""
        self._sink.add_serve_step(self._plugin, step)

    def on_fs_destroy(self, step: FsDestroyStep) -> None:
        """Take part in ``fs_destroy``: ``step(paths)`` runs in the same call, under the
        exclusive storage lock, before the file system is destroyed. ``paths`` are its
        directories (:meth:`~targetd_core.pools.FsPool.fs_paths`); remove whatever of
        this plugin refers to one of them or below, and return a callable that puts it
        back (called if the destroy then fails), or None. Raising stops the destroy."""
        self._sink.add_fs_destroy_step(self._plugin, step)
