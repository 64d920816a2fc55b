"""Undoing a half-made change: a plugin records, step by step, what puts back what it did,
and rolls back newest first when a later step fails, so nothing half-done is left."""

from __future__ import annotations

from collections.abc import Callable


class Undo:
    """Actions that undo what an operation did so far, run newest first on failure."""

    def __init__(self) -> None:
        self._actions: list[Callable[[], None]] = []

    def add(self, action: Callable[[], None]) -> None:
        self._actions.append(action)

    def rollback(self) -> None:
        while self._actions:
            action = self._actions.pop()
            try:
                action()
            except Exception:  # noqa: BLE001 - best effort, the original error wins
                pass
