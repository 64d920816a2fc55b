"""The hooks a targetd plugin implements.

A plugin is a module (or object) with functions marked ``@targetd_core.plugin.impl``
whose names are those below, registered through the ``targetd`` entry-point group::

    [project.entry-points.targetd]
    mybackend = "targetd_mybackend.plugin"

Every hook is optional. At start-up, once, before the daemon binds its socket (so a
broken configuration stops it with a clear message), the core calls:

1. :func:`targetd_declare` of each plugin, with a :class:`~targetd_core.registry.Declare`
   made for it: configuration keys and error codes;
2. checks the configuration against every declared key;
3. :func:`targetd_register` of each plugin, with a
   :class:`~targetd_core.registry.Register` made for it: pools, export handlers,
   methods, and the steps for serving and for ``fs_destroy``.

Hooks are called through pluggy (``pm.hook.<name>``): hook wrappers
(``@impl(wrapper=True)``), ``tryfirst``/``trylast`` and pluggy's tracing
(``TARGETD_TRACE_HOOKS=1``) behave as pluggy documents. ``targetd_declare`` and
``targetd_register`` are called once per plugin (so each object knows its plugin); a
wrapper of another plugin wraps each of those calls. Any exception from a hook at
start-up stops the daemon with a message naming the plugin.

The objects registered are shared by every request of a worker (and inherited by every
worker): keep no per-request state in them, and never cache what the storage says
(another worker may have changed it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .core import Core
    from .registry import Declare, Register

hookspec = pluggy.HookspecMarker("targetd")


@hookspec
def targetd_declare(declare: Declare) -> None:
    """Declare the configuration keys this plugin reads and the error codes it answers.

    Keys nobody declares are reported as a warning at start-up. Raise nothing here
    unless the plugin cannot work at all.
    """


@hookspec
def targetd_register(register: Register) -> None:
    """Contribute pools, export handlers and methods built from ``register.config``.

    Raise :class:`~targetd_core.errors.ConfigError` (naming the key) to refuse the
    configuration; the core reports every problem of every plugin together. Must not
    change anything on the host (``targetd check`` runs it too).
    """


@hookspec
def targetd_fs_destroy(core: Core, paths: list[str]) -> Callable[[], None] | None:
    """A file system is about to be destroyed (``fs_destroy``), in the same call and
    under the exclusive storage lock. The core's own implementation runs the steps
    plugins gave ``register.on_fs_destroy``; a wrapper sees them all.

    ``paths`` are its directories. Return a callable that puts back what was removed
    (called if the destroy then fails), or None. Raising stops the destroy.
    """


@hookspec
def targetd_serve(core: Core) -> None:
    """The daemon is about to serve: in the main process, after every check passed,
    before the workers start, holding the storage lock; never for ``targetd check``.
    The core's own implementation runs the steps plugins gave ``register.on_serve``.
    An exception stops the daemon with its message.
    """
