"""A scripted stand-in for the ``zfs`` command (logic tests only: never proof that ZFS works).

Answers are looked up by argument-list prefix (the latest matching rule wins); a rule may
hold several answers for successive calls (the last one repeats). Every call is recorded.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

Answer = tuple[int, str, str]  # rc, stdout, stderr


class FakeZfs:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.rules: list[tuple[list[str], list[Answer]]] = []

    def on(self, prefix: Sequence[str], stdout: str = "", rc: int = 0, stderr: str = "") -> None:
        """Answer calls whose argv starts with ``prefix``."""
        self.rules.insert(0, (list(prefix), [(rc, stdout, stderr)]))

    def sequence(self, prefix: Sequence[str], answers: Sequence[str | Answer]) -> None:
        """Answer successive matching calls in turn (a plain string is a stdout)."""
        seq = [(0, a, "") if isinstance(a, str) else a for a in answers]
        self.rules.insert(0, (list(prefix), seq))

    def present(self, dataset: str) -> None:
        """Any ``zfs list ... DATASET`` finds it."""
        self.rules.insert(0, (["@last", dataset], [(0, f"{dataset}\n", "")]))

    def missing(self, dataset: str) -> None:
        """Any ``zfs list ... DATASET`` says it does not exist."""
        err = f"cannot open '{dataset}': dataset does not exist"
        self.rules.insert(0, (["@last", dataset], [(1, "", err)]))

    def __call__(self, argv, *, check=True, **_kw):  # signature of targetd_core.tools.run
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        rc, out, err = 0, "", ""
        for prefix, answers in self.rules:
            if prefix[0] == "@last":
                hit = argv[1] == "list" and argv[-1] == prefix[1]
            else:
                hit = argv[: len(prefix)] == prefix
            if hit:
                rc, out, err = answers.pop(0) if len(answers) > 1 else answers[0]
                break
        proc = subprocess.CompletedProcess(argv, rc, out, err)
        if check and rc != 0:
            from targetd_core.tools import tool_error

            raise tool_error(argv, proc)
        return proc

    def commands(self, verb: str) -> list[list[str]]:
        return [c for c in self.calls if len(c) > 1 and c[1] == verb]
