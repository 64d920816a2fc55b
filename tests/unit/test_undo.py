"""Rolling back a half-made change (targetd_core.undo)."""

from __future__ import annotations

from structlog.testing import capture_logs

from targetd_core.undo import Undo, undo_all


def test_rollback_runs_newest_first_past_a_failing_step_and_logs_it() -> None:
    ran: list[str] = []

    def fails() -> None:
        ran.append("b")
        raise OSError("device busy")

    undo = Undo()
    undo.add(lambda: ran.append("a"))
    undo.add(fails)
    undo.add(lambda: ran.append("c"))
    with capture_logs() as logs:
        undo.rollback()
    assert ran == ["c", "b", "a"]
    (line,) = logs
    assert line["log_level"] == "error" and "device busy" in line["error"]
    assert "fails" in line["step"]
    undo.rollback()  # each action runs once
    assert ran == ["c", "b", "a"]


def test_undo_all_is_the_same_rollback() -> None:
    ran: list[int] = []
    undo_all([lambda: ran.append(1), lambda: ran.append(2)])
    assert ran == [2, 1]
