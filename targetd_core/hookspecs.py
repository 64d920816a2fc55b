"""The hooks a targetd plugin implements: the public API for third parties.

A plugin is a module (or object) with functions marked ``@targetd_core.plugin.impl``
whose names are those below, registered through the ``targetd`` entry-point group::

    [project.entry-points.targetd]
    mybackend = "targetd_mybackend.plugin"

Every hook is optional. The core calls them in this order at start-up, once, before
it binds its socket (so a broken configuration stops the daemon with a clear message):

1. :func:`targetd_config_options` — the configuration keys the plugin reads;
2. the configuration is checked against all declared keys;
3. :func:`targetd_block_pools`, :func:`targetd_fs_pools`, :func:`targetd_export_handlers`
   and :func:`targetd_rpc_methods`, each given the :class:`~targetd_core.core.Core`;
   these must not change anything on the host (``targetd check`` runs them too);
4. only when the daemon is going to serve: :func:`targetd_serve`.

The objects returned are shared by every request of a worker (and inherited by every
worker): keep no per-request state in them, and never cache what the storage says
(another worker may have changed it).

Hooks may raise :class:`~targetd_core.errors.ConfigError` (naming the key) to refuse
the configuration; the core reports all of them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .config import ConfigOption
    from .core import Core
    from .methods import RpcMethod
    from .pools import BlockPool, ExportHandler, FsPool

hookspec = pluggy.HookspecMarker("targetd")


@hookspec
def targetd_config_options() -> Iterable[ConfigOption]:
    """Declare the configuration keys this plugin reads, with types and defaults.

    Keys nobody declares are reported as a warning at start-up. Two plugins may
    declare the same key (e.g. ``fs_pools``) if they agree on its type.
    """


@hookspec
def targetd_block_pools(core: Core) -> Iterable[BlockPool]:
    """Return the block pools this plugin owns, built from ``core.config``.

    A pool name may be owned by exactly one plugin; a name claimed twice stops the
    daemon. The core calls :meth:`BlockPool.check` on each.
    """


@hookspec
def targetd_fs_pools(core: Core) -> Iterable[FsPool]:
    """Return the file system pools this plugin owns.

    The ``fs_pools`` key lists mount points of any type; a plugin returns pools for the
    entries it recognises (by their type in the mount table) and leaves the others.
    An entry no plugin takes stops the daemon.
    """


@hookspec
def targetd_export_handlers(core: Core) -> Iterable[ExportHandler]:
    """Return export handlers; the core asks each of them whether a volume is still
    exported before destroying it (-303)."""


@hookspec
def targetd_fs_destroy(core: Core, paths: list[str]) -> Callable[[], None] | None:
    """A file system is about to be destroyed (``fs_destroy``), in the same call and
    under the exclusive storage lock.

    ``paths`` are its directories (its mount point, and where its snapshots are seen,
    from :meth:`~targetd_core.pools.FsPool.fs_paths`). Remove whatever of this plugin
    refers to one of them or to a directory below (the NFS plugin removes its exports),
    so nothing outlives the file system. Return a callable that puts it back (called
    if the destroy then fails), or None. Raising stops the destroy with that error.
    """


@hookspec
def targetd_rpc_methods(core: Core) -> Iterable[RpcMethod]:
    """Return the JSON-RPC methods this plugin adds.

    A method name may be registered by exactly one plugin; a name registered twice
    stops the daemon, naming both plugins. See :func:`targetd_core.plugin.rpc_method`.
    """


@hookspec
def targetd_serve(core: Core) -> None:
    """The daemon is about to serve: do what start-up must do to the host.

    Called once, in the main process, after every check passed and before the workers
    start, holding the storage lock; never for ``targetd check`` or ``targetd plugins``.
    Restoring saved kernel state (LIO exports after a reboot) or re-applying NFS exports
    belongs here, not in the hooks that build pools and methods. An exception stops the
    daemon with the message.
    """
