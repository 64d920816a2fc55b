"""Undoing a half-made change: a plugin records, step by step, what puts back what it did,
and rolls back newest first when a later step fails, so nothing half-done is left."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog

log = structlog.get_logger("targetd.undo")


class Undo:
    """Actions that undo what an operation did so far, run newest first on failure.

    Rolling back is best effort: an action that fails is logged (something may be left
    on the host for an administrator to remove) and the others still run; the error
    that caused the rollback is what the caller raises."""

    def __init__(self, actions: Iterable[Callable[[], None]] = ()) -> None:
        self._actions: list[Callable[[], None]] = list(actions)

    def add(self, action: Callable[[], None]) -> None:
        self._actions.append(action)

    def rollback(self) -> None:
        while self._actions:
            action = self._actions.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - keep going; the original error wins
                log.error("cannot undo a step", step=_describe(action), error=repr(exc))


def _describe(action: Callable[[], None]) -> str:
    return getattr(action, "__qualname__", None) or repr(action)


def undo_all(steps: Iterable[Callable[[], None]]) -> None:
    """Run undo steps newest first, as :meth:`Undo.rollback` does."""
    Undo(steps).rollback()
