"""Checking files that hold secrets (the configuration, the TLS key) before start-up.

Such a file must be a regular file owned by the user targetd runs as, with no
permission for group or others: anyone else who can read it has the password or the
key, and anyone else who can write it controls what the daemon does as root.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def private_file_problems(path: Path, key: str, what: str) -> list[str]:
    """Problems that make ``path`` unfit to hold a secret, each starting with ``key``
    and saying the command that fixes it (empty if all is well or it is missing:
    a missing file is reported by whoever reads it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"{key}: cannot check {what} {path}: {exc.strerror}"]
    if not stat.S_ISREG(st.st_mode):
        return [f"{key}: {what} {path} is not a regular file"]
    problems = []
    me = os.geteuid()
    if st.st_uid != me:
        problems.append(
            f"{key}: {what} {path} is owned by {_user(st.st_uid)}, not by {_user(me)} "
            f"(the user targetd runs as), so another account controls a secret; "
            f"run: chown {_user(me)}: {path}"
        )
    if st.st_mode & 0o077:
        problems.append(
            f"{key}: {what} {path} is {'readable' if st.st_mode & 0o044 else 'writable'} "
            "by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}), and it holds a secret; "
            f"run: chmod 600 {path}"
        )
    return problems
