"""A scripted stand-in for the ``zfs`` command (logic tests only: never proof that ZFS works).

Answers are looked up by argument-list prefix; every call is recorded.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class FakeZfs:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.answers: list[tuple[list[str], int, str, str]] = []

    def on(self, prefix: Sequence[str], stdout: str = "", rc: int = 0, stderr: str = "") -> None:
        """Answer calls whose argv starts with ``prefix`` (later rules win)."""
        self.answers.insert(0, (list(prefix), rc, stdout, stderr))

    def present(self, dataset: str) -> None:
        """Any ``zfs list ... DATASET`` finds it."""
        self.answers.insert(0, (["@last", dataset], 0, f"{dataset}\n", ""))

    def sequence(self, prefix: Sequence[str], outputs: Sequence[str]) -> None:
        """Answer successive matching calls with ``outputs`` (the last one repeats)."""
        self.answers.insert(0, (list(prefix), 0, list(outputs), ""))

    def missing(self, dataset: str) -> None:
        """Any ``zfs list ... DATASET`` says it does not exist."""
        self.answers.insert(
            0, (["@last", dataset], 1, "", f"cannot open '{dataset}': dataset does not exist")
        )

    def __call__(self, argv, *, check=True, **_kw):  # signature of targetd_core.tools.run
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        for prefix, rc, out, err in self.answers:
            if prefix[0] == "@last":
                hit = argv[1] == "list" and argv[-1] == prefix[1]
            else:
                hit = argv[: len(prefix)] == prefix
            if hit:
                if isinstance(out, list):
                    out = out.pop(0) if len(out) > 1 else out[0]
                proc = subprocess.CompletedProcess(argv, rc, out, err)
                break
        else:
            proc = subprocess.CompletedProcess(argv, 0, "", "")
        if check and proc.returncode != 0:
            from targetd_core.tools import tool_error

            raise tool_error(argv, proc)
        return proc

    def commands(self, verb: str) -> list[list[str]]:
        return [c for c in self.calls if len(c) > 1 and c[1] == verb]
