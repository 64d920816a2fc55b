"""Shared parts of the adversarial suite (host tier): the seed and example budgets,
hostile values, the reply invariants, and a snapshot of everything a call could change
on the host.

Every adversarial test uses the seed below; a failure message names it. Repeat a run
with the same ``TARGETD_FUZZ_SEED`` to get the same requests; set another to explore.
``TARGETD_FUZZ_SCALE`` multiplies every example budget (CI uses 1).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import requests
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

#: The seed of every adversarial test: printed in failures, set it to repeat a run.
SEED = int(os.environ.get("TARGETD_FUZZ_SEED", "20261201"))
SCALE = float(os.environ.get("TARGETD_FUZZ_SCALE", "1"))


def budget(n: int) -> int:
    """An example budget, scaled by TARGETD_FUZZ_SCALE (at least 1)."""
    return max(1, int(n * SCALE))


def fixed_settings(n: int, stateful_steps: int | None = None) -> settings:
    """Hypothesis settings for tests against a live daemon: a fixed budget, no example
    database (state lives on the host, not in the test), no shrinking (a replay against
    changed host state would not reproduce), no deadline (storage tools are slow)."""
    kw: dict[str, Any] = {}
    if stateful_steps is not None:
        kw["stateful_step_count"] = stateful_steps
    return settings(
        max_examples=budget(n),
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        print_blob=False,
        **kw,
    )


def seed_note() -> str:
    return f"(seed {SEED}: rerun with TARGETD_FUZZ_SEED={SEED} to repeat)"


# -- hostile values ------------------------------------------------------------------

#: Strings that broke or could break a check: a trailing newline (``$`` matches before
#: it), NUL, separators and dot components, very long, non-ASCII, lone surrogates,
#: shell and format metacharacters, invisible characters.
BOUNDARY_STRINGS: list[str] = [
    "",
    " ",
    "x\n",
    "\nx",
    "x\r",
    "x\r\n",
    "x\t",
    "x\x00",
    "\x00",
    "x\x00y",
    "/",
    ".",
    "..",
    "../x",
    "x/..",
    "../../../../etc",
    "/etc",
    "/etc/passwd",
    "a/b",
    "x" * 128,
    "x" * 4097,
    "é",
    "名前",
    "\U0001f4a9",
    "\ud800",
    "x\udfff",
    "\udcff\udcfe",
    "\u2028",
    "\ufeff",
    "\x7f",
    "-",
    "--help",
    "-rf",
    "$(id)",
    "`id`",
    "x;id",
    "%s%n",
    "\\",
    '"',
    "'",
    "x y",
    "x,y",
    "x(rw)",
    "#",
]

#: Host strings for NFS. Host names outside /etc/hosts would make exportfs ask the DNS
#: server (not loopback): every plain name here is either refused before exportfs or
#: resolved from /etc/hosts.
SAFE_HOSTS: list[str] = [
    "192.0.2.7",
    "192.0.2.0/24",
    "198.51.100.0/255.255.255.0",
    "2001:db8::7",
    "[2001:db8::8]",
    "2001:db8::/64",
    "*",
    "*.example",
    "client?.example",
    "localhost",
    "127.0.0.1",
]
HOSTILE_HOSTS: list[str] = [
    "*\n",
    "localhost\n",
    "192.0.2.7\n",
    "192.0.2.7\x00",
    "\n192.0.2.7",
    "192.0.2.7 *",
    "192.0.2.7(rw)",
    "192.0.2.7,*",
    "*(rw,no_root_squash)",
    "192.0.2.300",
    "192.0.2.0/33",
    "2001:db8::/129",
    "[2001:db8::1",
    "2001:db8::1]",
    "/etc",
    "../x",
    "@",
    "@\n",
    "#x",
    "\ud800",
    "local\udfffhost",
    "",
    " ",
    "x" * 300,
    "-",
]

HOSTILE_NUMBERS: list[Any] = [
    -1,
    -(2**63),
    2**63,
    2**64 + 1,
    10**30,
    1.5,
    -0.5,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
]
WRONG_TYPES: list[Any] = [None, [], {}, ["x"], {"a": 1}, 0, "0", True, 1.5]


def hostile_value() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(BOUNDARY_STRINGS),
        st.sampled_from(HOSTILE_NUMBERS),
        st.sampled_from(WRONG_TYPES),
        st.text(max_size=8).map(lambda s: s + "\n"),
    )


def has_hostile_char(value: Any) -> bool:
    """True if any string in ``value`` holds a lone surrogate, NUL or another control
    character: input the contract marks invalid wherever it names a thing."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF or ord(c) < 32 or ord(c) == 127 for c in value)
    if isinstance(value, list):
        return any(has_hostile_char(v) for v in value)
    if isinstance(value, dict):
        return any(has_hostile_char(k) or has_hostile_char(v) for k, v in value.items())
    return False


def has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    return False


# -- replies ---------------------------------------------------------------------------

#: JSON-RPC's own codes a server may answer with, and the contract's codes.
PROTOCOL_CODES = {-32700, -32600, -32601, -32602}
CONTRACT_CODES = {
    -1, -50, -51, -52, -53, -103, -104, -110, -112, -151, -152, -153, -200, -303, -400,
    -401, -1000,
}  # fmt: skip
LEAK_MARKERS = ("Traceback (most recent call last)", 'File "/', "<html", "<!DOCTYPE")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class BigInt(str):
    """An integer too long for Python's int() (over 4300 digits), kept as its digits:
    JSON has no such limit and the contract echoes ids of any size."""


def _int(text: str) -> int | BigInt:
    return BigInt(text) if len(text.lstrip("-")) > 4000 else int(text)


def strict_json(text: str | bytes) -> Any:
    """Parse as RFC 8259 JSON: NaN and Infinity are not JSON; integers of any length."""
    return json.loads(text, parse_constant=_no_constants, parse_int=_int)


def dumps_loose(obj: Any) -> bytes:
    """A request body, hostile values included (NaN, lone surrogates as \\u escapes)."""
    return json.dumps(obj, allow_nan=True).encode()


@dataclass
class Tally:
    """What a fuzz run saw: the figures of the closing note, and every violation."""

    requests: int = 0
    http_5xx: int = 0
    tracebacks: int = 0
    minus_one_for_invalid: int = 0
    changed_when_refused: int = 0
    violations: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def fail_once(self, what: str, body: Any, reply: Any) -> None:
        """Report a standing problem (one that stays until fixed) only the first time."""
        kind = re.sub(r"[0-9]+", "N", what)[:80]
        if kind not in self.seen:
            self.seen.add(kind)
            self.fail(what, body, reply)

    def fail(self, what: str, body: Any, reply: Any) -> None:
        what = what if len(what) <= 700 else what[:700] + "..."
        text = f"{what}\n    request: {_short(body)}\n    reply: {_short(reply)}"
        if len(self.violations) < 200:
            self.violations.append(text)

    def summary(self) -> str:
        return (
            f"{self.requests} requests, {self.http_5xx} 5xx, {self.tracebacks} leaked "
            f"tracebacks, {self.minus_one_for_invalid} -1 for invalid input, "
            f"{self.changed_when_refused} refused calls that changed the host, "
            f"{len(self.violations)} violations {seed_note()}"
        )

    def check(self) -> None:
        assert not self.violations, self.summary() + "\n" + "\n".join(self.violations[:40])


def _short(x: Any, n: int = 600) -> str:
    s = x.decode("utf-8", "backslashreplace") if isinstance(x, bytes) else repr(x)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


def check_http(tally: Tally, body: Any, r: requests.Response) -> Any | None:
    """The invariants of every HTTP reply; the parsed JSON body, or None."""
    tally.requests += 1
    text = r.content
    if r.status_code >= 500 and r.status_code != 503:
        tally.http_5xx += 1
        tally.fail(f"HTTP {r.status_code}", body, text)
    if any(m.encode().lower() in text.lower() for m in LEAK_MARKERS):
        tally.tracebacks += 1
        tally.fail("traceback or HTML page in the reply", body, text)
    if r.status_code == 204:
        if text:
            tally.fail("204 with a body", body, text)
        return None
    if r.status_code != 200:
        return None
    if r.headers.get("Content-Type") != "application/json":
        tally.fail(f"Content-Type {r.headers.get('Content-Type')!r}", body, text)
    try:
        return strict_json(text)
    except ValueError as exc:
        tally.fail(f"reply is not valid JSON ({exc})", body, text)
        return None


def check_reply_object(tally: Tally, body: Any, reply: Any, sent_id: Any = ...) -> None:
    """One JSON-RPC reply object: exactly jsonrpc, id and result or error."""
    if not isinstance(reply, dict):
        tally.fail("reply is not an object", body, reply)
        return
    keys = set(reply)
    if keys not in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}):
        tally.fail(f"reply members {sorted(keys)}", body, reply)
        return
    if reply["jsonrpc"] != "2.0":
        tally.fail("jsonrpc is not 2.0", body, reply)
    invalid_request = isinstance(reply.get("error"), dict) and reply["error"].get("code") in (
        -32700,
        -32600,
    )
    if invalid_request and reply["id"] is None:
        pass  # JSON-RPC 2.0 allows null when the request as a whole is not valid
    elif sent_id is not ... and (reply["id"] != sent_id or type(reply["id"]) is not type(sent_id)):
        tally.fail(f"id not echoed exactly (sent {sent_id!r})", body, reply)
    if "error" in reply:
        err = reply["error"]
        if not isinstance(err, dict) or not {"code", "message"} <= set(err) <= {
            "code",
            "message",
            "data",
        }:
            tally.fail("malformed error object", body, reply)
            return
        if not isinstance(err["code"], int) or err["code"] not in PROTOCOL_CODES | CONTRACT_CODES:
            tally.fail(f"error code {err['code']!r} is not a contract code", body, reply)
        if not isinstance(err["message"], str) or not err["message"]:
            tally.fail("error without a message", body, reply)


# -- the host's state ------------------------------------------------------------------

#: Paths an escape would reach: an export of any of these is always a violation.
SENSITIVE = ("/", "/etc", "/root", "/tmp", "/var", "/usr", "/home", "/boot", "/proc", "/sys")


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60).stdout


def tree(root: Path) -> list[str]:
    """Every entry below ``root`` with its type, without following a symlink."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            kind = "l" if os.path.islink(p) else "d" if os.path.isdir(p) else "f"
            out.append(f"{kind} {os.path.relpath(p, root)!r}")
    return sorted(out)


def ours(line: str, roots: tuple[str, ...]) -> bool:
    path = line.split()[0] if line.split() else ""
    return any(path == r or path.startswith(r + "/") for r in roots) or path in SENSITIVE


def etab_lines(roots: tuple[str, ...]) -> list[str]:
    """The kernel export table (etab) lines of our paths (other tests share the host)."""
    with contextlib.suppress(OSError):
        text = Path("/var/lib/nfs/etab").read_text(errors="backslashreplace")
        return sorted(ln for ln in text.splitlines() if ours(ln, roots))
    return []


def exportfs_v(roots: tuple[str, ...]) -> list[str]:
    """``exportfs -v`` entries of our paths, one string per (path, client)."""
    from targetd_nfs.exportfs import parse_exportfs_v

    return sorted(
        f"{e.path} {e.host} {','.join(e.options)}"
        for e in parse_exportfs_v(_run("exportfs", "-v"))
        if ours(e.path, roots)
    )


def host_state(mnt: Path, exports_file: Path, roots: tuple[str, ...]) -> dict[str, Any]:
    """Everything on the host a refused call must leave as it was."""
    return {
        # without "gen N": the generation moves with every transaction
        "subvolumes": sorted(
            re.sub(r" gen \d+", "", ln)
            for ln in _run("btrfs", "subvolume", "list", "-a", "-u", str(mnt)).splitlines()
        ),
        "tree": tree(mnt),
        "etab": etab_lines(roots),
        "exportfs": exportfs_v(roots),
        "exports_file": exports_file.read_text() if exports_file.exists() else None,
    }


def api_state(call: Any, roots: tuple[str, ...]) -> dict[str, Any]:
    """The API's own listings (sizes that change by themselves left out)."""
    fss = call("fs_list")
    return {
        "fs": sorted((f["name"], f["uuid"], f["pool"], f["full_path"]) for f in fss),
        "ss": sorted(
            (f["name"], s["name"], s["uuid"])
            for f in fss
            for s in call("ss_list", fs_uuid=f["uuid"])
        ),
        "nfs": sorted(
            (e["host"], e["path"], ",".join(e["options"]))
            for e in call("nfs_export_list")
            if ours(e["path"], roots)
        ),
        "pools": sorted((p["name"], p["type"], p.get("uuid")) for p in call("pool_list")),
    }


def unexport_all(roots: tuple[str, ...]) -> None:
    """Teardown: remove every live export of our paths."""
    from targetd_nfs.exportfs import parse_exportfs_v
    from targetd_nfs.hosts import exportfs_spec

    for e in parse_exportfs_v(_run("exportfs", "-v")):
        if any(e.path == r or e.path.startswith(r + "/") for r in roots):
            subprocess.run(
                ["exportfs", "-u", exportfs_spec(e.host, e.path)], capture_output=True, timeout=60
            )


@contextlib.contextmanager
def timed(label: str, figures: dict[str, float]) -> Iterator[None]:
    import time

    t = time.monotonic()
    try:
        yield
    finally:
        figures[label] = round(time.monotonic() - t, 1)


_SV_PATH_RE = re.compile(r"ID \d+ .*? path (?:<FS_TREE>/)?(?P<path>.*)")


def subvolume_paths(mnt: Path) -> list[str]:
    """Paths (from the top of the btrfs) of every subvolume, as btrfs lists them."""
    out = []
    for ln in _run("btrfs", "subvolume", "list", "-a", str(mnt)).splitlines():
        m = _SV_PATH_RE.fullmatch(ln)
        if m:
            out.append(m["path"])
    return out


def consistency_problems(
    call: Any, mnt: Path, exports_file: Path, roots: tuple[str, ...]
) -> list[str]:
    """Where the API's listings, the host's real state and targetd's own files disagree
    (empty when they agree): no half-made or orphaned object, no export outliving its
    file system, no export the file does not know, no junk in the kernel's table."""
    from targetd_nfs.exportfs import parse_exportfs_v
    from targetd_nfs.exportsfile import parse

    problems: list[str] = []
    fss = call("fs_list")
    api_fs = {f["name"]: f for f in fss if f["pool"] == str(mnt)}
    svs = subvolume_paths(mnt)
    # targetd_fs/.new-<name>: a create with a quota cut short by a kill (the btrfs plugin
    # names a subvolume only once it is limited); never listed, removed by the next create.
    host_fs = {
        p.split("/", 1)[1]
        for p in svs
        if p.startswith("targetd_fs/")
        and p.count("/") == 1
        and not p.startswith("targetd_fs/.new-")
    }
    if set(api_fs) != host_fs:
        problems.append(f"fs_list {sorted(api_fs)} but btrfs has {sorted(host_fs)}")
    host_ss = {tuple(p.split("/")[1:]) for p in svs if p.startswith("targetd_ss/")}
    api_ss = {(n, s["name"]) for n, f in api_fs.items() for s in call("ss_list", fs_uuid=f["uuid"])}
    if api_ss != host_ss:
        problems.append(f"ss_list {sorted(api_ss)} but btrfs has {sorted(host_ss)}")
    orphans = sorted(ss for ss in host_ss if ss[0] not in host_fs)
    if orphans:
        problems.append(f"snapshots of no file system: {orphans}")
    live = [e for e in parse_exportfs_v(_run("exportfs", "-v")) if ours(e.path, roots)]
    text = exports_file.read_text() if exports_file.exists() else ""
    entries = parse(text)
    fs_paths = {f["full_path"] for f in api_fs.values()}
    fs_dir = os.path.join(str(mnt), "targetd_fs") + "/"
    for e in live:
        if e.path.startswith(fs_dir) and e.path not in fs_paths:
            problems.append(f"export of {e.path} to {e.host} outlives its file system")
        if e.path in SENSITIVE or not any(e.path.startswith(r + "/") or e.path == r for r in roots):
            problems.append(f"ESCAPE: {e.path} is exported to {e.host}")
    if sorted((e.path, e.host) for e in entries) != sorted({(e.path, e.host) for e in entries}):
        problems.append(f"the exports file has duplicate entries: {text!r}")
    if len(entries) != len(live):
        problems.append(
            f"the exports file has {len(entries)} entries, the live table {len(live)}: "
            f"file {[(e.host, e.path) for e in entries]}, live {[(e.host, e.path) for e in live]}"
        )
    live_paths = {e.path for e in live}
    for e in entries:
        if e.path not in live_paths:
            problems.append(f"{e.host}:{e.path} is in the exports file but not in force")
    api_nfs = sorted(
        (e["host"], e["path"]) for e in call("nfs_export_list") if ours(e["path"], roots)
    )
    if api_nfs != sorted((e.host, e.path) for e in live):
        problems.append(f"nfs_export_list {api_nfs} but exportfs -v {live}")
    etab = etab_lines(roots)
    if len(etab) != len(live):
        problems.append(
            f"etab has {len(etab)} lines for our paths, exportfs -v {len(live)}: {etab}"
        )
    return problems


# -- a daemon with a btrfs fs pool and NFS ----------------------------------------------------


@dataclass
class FsTarget:
    """A running daemon with a btrfs fs pool (``mnt``), an allowed export directory
    (``root``, holding ``dir`` and a symlink ``link`` to /etc) and its exports file."""

    daemon: Any
    mnt: Path
    root: Path
    exports_file: Path
    roots: tuple[str, ...]

    def call(self, method: str, **params: Any) -> Any:
        return self.daemon.call(method, **params)

    def rpc(self, method: str, **params: Any) -> dict[str, Any]:
        return self.daemon.rpc(method, params)

    def snapshot(self) -> dict[str, Any]:
        return {
            **host_state(self.mnt, self.exports_file, self.roots),
            **api_state(self.call, self.roots),
        }

    def problems(self) -> list[str]:
        return consistency_problems(self.call, self.mnt, self.exports_file, self.roots)

    def restart(self, **overrides: Any) -> None:
        """Start the daemon again on the same configuration (after it stopped or was
        killed)."""
        from .daemon import start_daemon

        self.daemon.stop()
        cfg = yaml_load(self.daemon.config_path)
        cfg.update(overrides)
        self.daemon = start_daemon(self.daemon.config_path.parent, **cfg)


def yaml_load(path: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(path.read_text()))


@contextlib.contextmanager
def fs_target(tmp: Path, **overrides: Any) -> Iterator[FsTarget]:
    """A real daemon (gunicorn) with the btrfs-fs and nfs plugins on a fresh loop btrfs;
    everything is unexported, stopped, unmounted and detached afterwards."""
    from .daemon import start_daemon
    from .fsfixtures import btrfs_loop, require

    require("btrfs", "exportfs")
    root = tmp / "exports-root"
    (root / "dir").mkdir(parents=True)
    os.symlink("/etc", root / "link")  # an export through it would be an escape
    exports_file = tmp / "exports.d" / "targetd.exports"
    with btrfs_loop(tmp) as mnt:
        roots = (str(mnt), str(root))
        config: dict[str, Any] = {
            "plugins": ["btrfs-fs", "nfs"],
            "fs_pools": [str(mnt)],
            "nfs_exports_file": str(exports_file),
            "nfs_export_allowed_paths": [str(root)],
            "allow_chown": True,
        }
        config.update(overrides)
        t = FsTarget(start_daemon(tmp, **config), mnt, root, exports_file, roots)
        try:
            yield t
        finally:
            t.daemon.stop()
            unexport_all(roots)


# -- what is valid -----------------------------------------------------------------------


def _ecma(pattern: str) -> str:
    # JSON Schema patterns are ECMA-262: "$" is the end of the string. Python's "$" also
    # matches before a final newline, which is the very bug this suite hunts.
    return re.sub(r"(?<!\\)\$$", r"\\Z", pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if isinstance(instance, str) and not re.search(_ecma(pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})


def params_schema(method: dict[str, Any]) -> dict[str, Any]:
    """The method's parameters as one object schema (what ``params`` must be)."""
    return {
        "type": "object",
        "properties": {p["name"]: p["schema"] for p in method["params"]},
        "required": [p["name"] for p in method["params"] if p["required"]],
        "additionalProperties": False,
    }


#: Parameters that name a thing: a control character or lone surrogate is never valid.
NAMED_THINGS = {
    "host", "path", "chown", "options", "pool_name", "pool", "initiator_wwn", "init_id",
    "in_user", "in_pass", "out_user", "out_pass", "init_type",
}  # fmt: skip


def _wwn_like(v: str) -> bool:
    return (
        re.fullmatch(r"(?i)(iqn\.\d{4}-\d{2}\.|eui\.|naa\.)[^\s/\\]*", v) is not None
        and len(v) <= 223
    )


def secret_echoed(params: Any, reply_text: str) -> bool:
    """True if a CHAP secret probe sent in ``params`` comes back in the reply."""
    return SECRET in reply_text or "47114711471147114711" in reply_text


def invalid_reason(method: dict[str, Any], params: Any) -> str | None:
    """Why the schema or the contract refuses these params; None if they are valid."""
    if params == [] and not any(p["required"] for p in method["params"]):
        return None  # no positional arguments: a call without arguments
    if not isinstance(params, dict):
        return "params is not an object"
    if has_non_finite(params):
        return "NaN or Infinity"
    errors = list(Validator(params_schema(method)).iter_errors(params))
    if errors:
        return errors[0].message[:200]
    for p in method["params"]:
        v = params.get(p["name"])
        if p["name"] in NAMED_THINGS and has_hostile_char(v):
            return f"{p['name']} holds a control character or a lone surrogate"
        if p["name"] == "chown" and isinstance(v, str) and v:
            if not re.fullmatch(r"[0-9]+(:[0-9]+)?", v):
                return "chown is not ASCII digits 'uid' or 'uid:gid'"
        if p["name"] in ("initiator_wwn", "init_id") and isinstance(v, str) and not _wwn_like(v):
            return "not an iSCSI initiator name (RFC 3720/3721)"
        if p["name"] == "host" and v in HOSTILE_HOSTS:
            return "not an exports(5) host"
    return None


#: Initiator names that would become configfs paths outside the target tree, or that
#: hold what no RFC 3720/3721 name holds (finding 2).
#: An initiator the real-kernel fuzzing exports to first, so that names built on it
#: reach an existing ACL directory (that is how finding 2 escaped).
EXPORTED_WWN = "iqn.2003-01.org.example:x"
HOSTILE_WWNS: list[str] = [
    EXPORTED_WWN + "/../../../../../../../../../tmp/targetd-escape",
    EXPORTED_WWN + "/lun_0/../../../../../../../../../tmp/targetd-escape2",
    "iqn.2003-01.org.example:x/y",
    "iqn.2003-01.org.example:x\n",
    "iqn.2003-01.org.example:x\x00y",
    "iqn.2003-01.org.example:\ud800",
    "..",
    ".",
    "/",
    "iqn.2003-01.org.example:x y",
    "eui.0123456789abcdef\n",
    "naa.0123456789abcdef/..",
    "iqn." + "x" * 300,
]
#: The secret a CHAP password probe carries: it must never come back in a reply.
SECRET = "Secr3t-W0rd-4711"
SECRET_PROBES: list[Any] = [
    [SECRET],
    {"p": SECRET},
    SECRET + "\n",
    SECRET + "\x00",
    47114711471147114711,
]

#: Values aimed at the places findings were made: NFS options and chown with lone
#: surrogates and newlines, hosts that name the same client two ways.
AIMED: dict[str, list[Any]] = {
    "options": [
        ["fsid=\ud800"],
        ["anonuid=\udfff"],
        ["fsid=1\n"],
        "rw\n",
        ["rw", "ro"],
        ["rw,no_root_squash\n"],
        ["sec=sys:\ud800"],
        ["fsid=" + "9" * 5000],
        ["anonuid=-" + "9" * 40],
    ],
    "chown": ["\ud800", "0:\udfff", "0\n", "-1", "1" * 5000, "0:0:0", "٣"],
    "path": ["/x\ud800", "\udcff", "/etc\n", "/etc\x00"],
    "host": ["LOCALHOST", "Localhost", "127.0.0.1\n", "*\n", "[::1]", "::1"],
    "initiator_wwn": HOSTILE_WWNS,
    "init_id": HOSTILE_WWNS,
    "in_pass": SECRET_PROBES,
    "out_pass": SECRET_PROBES,
    "in_user": ["u\n", "u\x00", "\ud800", "u" * 300],
    "out_user": ["u\n", "u\x00", "\ud800", "u" * 300],
}

SUFFIXES = ["\n", "\x00", "/..", "/../../../../etc", "\ud800", " ", "\r\n", "/", "*"]


@st.composite
def mutated(draw: Any, method: dict[str, Any], valid: dict[str, Any]) -> Any:
    """A request's params broken in one way."""
    names = [p["name"] for p in method["params"]]
    required = [p["name"] for p in method["params"] if p["required"]]
    kinds = ["unknown", "not-object"]
    if names:
        kinds += ["replace"] * 6 + ["suffix"] * 3
    if required:
        kinds.append("missing")
    kind = draw(st.sampled_from(kinds))
    params = dict(valid)
    if kind == "unknown":
        params[draw(st.sampled_from(["x", "name\n", "\ud800", "__class__"]))] = 1
    elif kind == "not-object":
        return draw(st.sampled_from([list(valid.values()), "params", 1, True]))
    elif kind == "missing":
        del params[draw(st.sampled_from(required))]
    else:
        name = draw(st.sampled_from(names))
        if kind == "replace" and name in AIMED and draw(st.booleans()):
            params[name] = draw(st.sampled_from(AIMED[name]))
        elif kind == "replace":
            params[name] = draw(
                st.one_of(st.sampled_from(HOSTILE_HOSTS), st.sampled_from([None, 1, []]))
                if name == "host"
                else hostile_value()
            )
        else:
            base = params.get(name)
            if not isinstance(base, str):
                base = draw(st.sampled_from(["n0", "192.0.2.7", "x"]))
            if name == "host":
                base = draw(st.sampled_from(["*", "192.0.2.7", "localhost"]))
            params[name] = base + draw(st.sampled_from(SUFFIXES))
    return params


def aimed_cases(method: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every aimed hostile value (``AIMED``) in every parameter it is aimed at, the other
    parameters valid (from ``base``): these run in every fuzz run, whatever the budget."""
    names = {p["name"] for p in method["params"]}
    required = {p["name"] for p in method["params"] if p["required"]}
    valid = {k: v for k, v in base.items() if k in required}
    cases = []
    for name in sorted(names & set(AIMED)):
        for value in AIMED[name]:
            cases.append({**valid, **{k: base[k] for k in required if k in base}, name: value})
    return cases
