"""RPC methods: a typed function plus what the core needs to know to serve it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RpcMethod:
    """A JSON-RPC method.

    ``func`` takes keyword arguments annotated with the types of
    :mod:`targetd_core.params`; the core checks a call's ``params`` against them. It
    returns a JSON-serialisable value (``None`` for the contract's ``null``) or raises
    :class:`~targetd_core.errors.TargetdError`.

    ``changes_storage`` calls are serialised across all workers; the others take the
    storage lock shared. ``errors`` lists the contract codes the method can answer
    (for the OpenRPC description): any int, a :class:`~targetd_core.errors.Code`
    or a plugin's :class:`~targetd_core.errors.ErrorCode`; the core refuses to start if a
    method lists a code no loaded plugin declares. ``plugin`` is the name of the plugin
    that registered it: the core sets it on its own copy at registration.
    """

    name: str
    func: Callable[..., Any]
    changes_storage: bool = True
    errors: tuple[int, ...] = ()
    summary: str = ""
    plugin: str = ""
    secret_params: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.summary:
            first_paragraph = (inspect.getdoc(self.func) or "").split("\n\n")[0]
            object.__setattr__(self, "summary", " ".join(first_paragraph.split()))
        for e in self.errors:
            if isinstance(e, bool) or not isinstance(e, int):
                raise TypeError(f"{self.name}: error codes are ints, got {e!r}")
        object.__setattr__(self, "errors", tuple(int(e) for e in self.errors))


def rpc_method(
    name: str | None = None,
    *,
    changes_storage: bool = True,
    errors: tuple[int, ...] = (),
    secret_params: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], RpcMethod]:
    """Decorator: turn a typed function into an :class:`RpcMethod`.

    ``secret_params`` names parameters that are never logged (passwords, secrets);
    anything whose name contains ``pass`` or ``secret`` is redacted anyway.
    """

    def wrap(func: Callable[..., Any]) -> RpcMethod:
        return RpcMethod(
            name=name or func.__name__,
            func=func,
            changes_storage=changes_storage,
            errors=errors,
            secret_params=secret_params,
        )

    return wrap
