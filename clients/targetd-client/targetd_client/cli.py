"""``targetd-cli``: the targetd API from the shell.

Exit status: 0 success, 1 targetd answered with an error, 2 usage or configuration error,
3 transport error (connection, TLS, HTTP, malformed reply), 4 authentication refused
(HTTP 401, or 503 while a failed login is being delayed).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .client import Client
from .config import ConfigurationError, load_settings, read_password_file
from .errors import AuthenticationError, TargetdError, TransportError
from .sizes import format_size, parse_size
from .table import render_table

EXIT_OK = 0
EXIT_SERVER = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3
EXIT_AUTH = 4

PROG = "targetd-cli"


class UsageError(Exception):
    """A mistake on the command line found after parsing (exit status 2)."""


# --- argument types -----------------------------------------------------------------------
def size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def lun_arg(text: str) -> int:
    try:
        lun = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a LUN number: {text!r}") from None
    if not 0 <= lun <= 255:
        raise argparse.ArgumentTypeError(f"LUN {lun} is not in 0..255")
    return lun


def seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return value


def options_arg(text: str) -> list[str]:
    return [o.strip() for o in text.split(",") if o.strip()]


# --- output -------------------------------------------------------------------------------
def _size(n: Any, args: argparse.Namespace) -> str:
    if not isinstance(n, int):
        return str(n)
    return str(n) if args.bytes else format_size(n)


def _when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts)))
    except (TypeError, ValueError, OverflowError):
        return str(ts)


def show_pools(pools: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = []
    for p in pools:
        size, free = p.get("size", 0), p.get("free_size", 0)
        used = f"{100 * (size - free) / size:.0f}%" if size else "-"
        rows.append([p["name"], p["type"], _size(size, a), _size(free, a), used, p.get("uuid", "")])
    return render_table(["NAME", "TYPE", "SIZE", "FREE", "USED", "UUID"], rows, right=(2, 3, 4))


def show_volumes(vols: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [[v["name"], _size(v["size"], a), v["uuid"]] for v in vols]
    return render_table(["NAME", "SIZE", "UUID"], rows, right=(1,))


def show_exports(exports: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [
        [e["initiator_wwn"], e["lun"], e["pool"], e["vol_name"], _size(e["vol_size"], a)]
        for e in exports
    ]
    return render_table(["INITIATOR", "LUN", "POOL", "VOLUME", "SIZE"], rows, right=(1, 4))


def show_nvme_exports(exports: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [
        [e["host_nqn"], e["nsid"], e["pool"] or "-", e["vol_name"] or "-", _size(e["vol_size"], a)]
        for e in exports
    ]
    return render_table(["HOST NQN", "NSID", "POOL", "VOLUME", "SIZE"], rows, right=(1, 4))


def show_nvme_hosts(hosts: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [[h["host_nqn"], h["exports"], h["auth"], h["subsystem_nqn"]] for h in hosts]
    return render_table(["HOST NQN", "EXPORTS", "AUTH", "SUBSYSTEM NQN"], rows, right=(1,))


def show_initiators(inits: list[dict[str, Any]], a: argparse.Namespace) -> str:
    return render_table(["INITIATOR", "TYPE"], [[i["init_id"], i["init_type"]] for i in inits])


def show_groups(groups: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [[g["name"], g["init_type"], ", ".join(g["init_ids"])] for g in groups]
    return render_table(["NAME", "TYPE", "INITIATORS"], rows)


def show_maps(maps: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [[m["ag_name"], m["h_lun_id"], m["pool_name"], m["vol_name"]] for m in maps]
    return render_table(["GROUP", "LUN", "POOL", "VOLUME"], rows, right=(1,))


def show_filesystems(fss: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [
        [
            f["name"],
            f["pool"],
            _size(f["total_space"], a),
            _size(f["free_space"], a),
            f["uuid"],
            f["full_path"],
        ]
        for f in fss
    ]
    return render_table(["NAME", "POOL", "TOTAL", "FREE", "UUID", "PATH"], rows, right=(2, 3))


def show_snapshots(snaps: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [[s["name"], _when(s["timestamp"]), s["uuid"]] for s in snaps]
    return render_table(["NAME", "CREATED", "UUID"], rows)


def show_nfs(exports: list[dict[str, Any]], a: argparse.Namespace) -> str:
    rows = [[e["host"], e["path"], ",".join(e.get("options") or [])] for e in exports]
    return render_table(["HOST", "PATH", "OPTIONS"], rows)


def show_lines(items: list[Any], a: argparse.Namespace) -> str:
    return "\n".join(str(i) for i in items)


def show_methods(doc: dict[str, Any], a: argparse.Namespace) -> str:
    """An OpenRPC document (rpc.discover) as METHOD, PARAMS ([optional]), PLUGIN, SUMMARY."""
    rows = []
    for m in (doc or {}).get("methods", []):
        params = " ".join(
            p["name"] if p.get("required") else f"[{p['name']}]" for p in m.get("params", [])
        )
        rows.append([m["name"], params, m.get("x-targetd-plugin", ""), m.get("summary", "")])
    return render_table(["METHOD", "PARAMS", "PLUGIN", "SUMMARY"], rows)


def show_json(result: Any, a: argparse.Namespace) -> str:
    return json.dumps(result, indent=2, sort_keys=True)


# --- resolving names people type to the uuids the API wants --------------------------------
def resolve_fs(c: Client, ref: str) -> dict[str, Any]:
    """A file system by uuid, full path, POOL:NAME or (unique) name."""
    fss = c.fs_list()
    for key in ("uuid", "full_path"):
        hits = [f for f in fss if f[key] == ref]
        if hits:
            return dict(hits[0])
    if ":" in ref:
        pool, _, name = ref.rpartition(":")
        hits = [f for f in fss if f["pool"] == pool and f["name"] == name]
    else:
        hits = [f for f in fss if f["name"] == ref]
    if len(hits) == 1:
        return dict(hits[0])
    if not hits:
        raise UsageError(f"no file system {ref!r} (give its uuid, path, POOL:NAME or name)")
    pools = ", ".join(f"{f['pool']}:{f['name']}" for f in hits)
    raise UsageError(f"{ref!r} is ambiguous ({pools}): give POOL:NAME or the uuid")


def resolve_snapshot(c: Client, fs_uuid: str, ref: str) -> dict[str, Any]:
    snaps = c.ss_list(fs_uuid)
    for key in ("uuid", "name"):
        hits = [s for s in snaps if s[key] == ref]
        if hits:
            return dict(hits[0])
    raise UsageError(f"no snapshot {ref!r} of that file system (give its name or uuid)")


def chap_secret(args: argparse.Namespace, direction: str) -> str | None:
    user = getattr(args, f"{direction}_user")
    pass_file = getattr(args, f"{direction}_pass_file")
    if not user:
        if pass_file:
            raise UsageError(f"--{direction}-pass-file needs --{direction}-user")
        return None
    if pass_file:
        return read_password_file(pass_file)
    if sys.stdin.isatty():
        return getpass.getpass(f"CHAP secret ({direction}) for {user}: ")
    raise UsageError(f"--{direction}-user needs --{direction}-pass-file FILE (or a terminal)")


# --- the commands -------------------------------------------------------------------------
Handler = Callable[[Client, argparse.Namespace], Any]
Command = tuple[Handler, Callable[[Any, argparse.Namespace], str] | None]


def cmd_call(c: Client, a: argparse.Namespace) -> Any:
    try:
        params = json.loads(a.params) if a.params else {}
    except ValueError as e:
        raise UsageError(f"PARAMS is not JSON: {e}") from None
    if not isinstance(params, dict):
        raise UsageError("PARAMS must be a JSON object of named parameters")
    return c.call(a.method, **params)


def cmd_fs_destroy(c: Client, a: argparse.Namespace) -> None:
    c.fs_destroy(resolve_fs(c, a.fs)["uuid"])


def cmd_fs_clone(c: Client, a: argparse.Namespace) -> None:
    fs = resolve_fs(c, a.fs)
    snap = resolve_snapshot(c, fs["uuid"], a.snapshot)["uuid"] if a.snapshot else None
    c.fs_clone(fs["uuid"], a.dest, snap)


def cmd_snap_delete(c: Client, a: argparse.Namespace) -> None:
    fs = resolve_fs(c, a.fs)
    c.fs_snapshot_delete(fs["uuid"], resolve_snapshot(c, fs["uuid"], a.snapshot)["uuid"])


def cmd_nfs_add(c: Client, a: argparse.Namespace) -> Any:
    options = [o for group in a.options for o in group]
    return c.nfs_export_add(a.host, a.path, options, chown=a.chown)


def cmd_initiator_auth(c: Client, a: argparse.Namespace) -> None:
    in_pass = chap_secret(a, "in")
    out_pass = chap_secret(a, "out")
    c.initiator_set_auth(a.initiator, a.in_user, in_pass, a.out_user, out_pass)


def cmd_nvme_host_auth(c: Client, a: argparse.Namespace) -> None:
    host_key = read_password_file(a.host_key_file)
    ctrl_key = read_password_file(a.ctrl_key_file) if a.ctrl_key_file else None
    c.nvme_host_set_auth(a.host, host_key, ctrl_key, a.hash, a.dhgroup)


def build_parser() -> argparse.ArgumentParser:
    # Output options are accepted before and after the command: on the subcommands their
    # default is SUPPRESS so that they do not override what was given before the command.
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                     help="print the raw JSON result")  # fmt: skip
    out.add_argument("--bytes", action="store_true", default=argparse.SUPPRESS,
                     help="sizes in bytes in tables")  # fmt: skip

    p = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,  # "--password x" must not pass as "--password-file x"
        description="Manage a targetd storage array (iSCSI volumes, file systems, NFS).",
        epilog="Credentials: TARGETD_URL, TARGETD_USER, TARGETD_PASSWORD, TARGETD_CA, or the "
        "config file ~/.config/targetd-cli.toml. Exit status: 0 ok, 1 targetd error, 2 usage, "
        "3 transport, 4 authentication.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--url", help="targetd endpoint (default: $TARGETD_URL or the config)")
    p.add_argument("--user", help="user (default: $TARGETD_USER, the config, or admin)")
    p.add_argument("--password-file", metavar="FILE",
                   help="read the password from FILE ('-': standard input)")  # fmt: skip
    p.add_argument("--ca", metavar="PEM", help="CA certificate to verify targetd's certificate")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the TLS certificate (testing only)")  # fmt: skip
    p.add_argument("--config", metavar="FILE", help="config file (TOML)")
    p.add_argument(
        "--timeout", type=seconds_arg, metavar="SECONDS", help="per request (default 300)"
    )
    p.add_argument("--json", action="store_true", default=False, help="print the raw JSON result")
    p.add_argument("--bytes", action="store_true", default=False, help="sizes in bytes in tables")
    objects = p.add_subparsers(dest="object", metavar="COMMAND", required=True)

    def group(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        sp = objects.add_parser(name, help=help)
        return sp.add_subparsers(dest="action", metavar="ACTION", required=True)

    def leaf(
        parent: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help: str,
        handler: Handler,
        show: Callable[[Any, argparse.Namespace], str] | None = None,
    ) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help, description=help, parents=[out])
        sp.set_defaults(handler=handler, show=show)
        return sp

    pool = group("pool", "storage pools")
    leaf(pool, "list", "list the pools", lambda c, a: c.pool_list(), show_pools)

    vol = group("vol", "block volumes")
    s = leaf(vol, "list", "list the volumes of a pool",
             lambda c, a: c.vol_list(a.pool), show_volumes)  # fmt: skip
    s.add_argument("pool")
    s = leaf(vol, "create", "create a volume",
             lambda c, a: c.vol_create(a.pool, a.name, a.size))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("name")
    s.add_argument("size", type=size_arg, help="10G, 512M, 1.5T (powers of 1024) or bytes")
    s = leaf(vol, "destroy", "destroy a volume and its data",
             lambda c, a: c.vol_destroy(a.pool, a.name))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("name")
    s = leaf(vol, "copy", "copy a volume to a new one",
             lambda c, a: c.vol_copy(a.pool, a.source, a.dest, a.size))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("source")
    s.add_argument("dest")
    s.add_argument("--size", type=size_arg, help="grow the copy to this size")
    s = leaf(vol, "resize", "grow a volume",
             lambda c, a: c.vol_resize(a.pool, a.name, a.size))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("name")
    s.add_argument("size", type=size_arg, help="the new (larger) size")

    exp = group("export", "iSCSI exports of volumes to initiators")
    leaf(exp, "list", "list the exports", lambda c, a: c.export_list(), show_exports)
    s = leaf(exp, "create", "export a volume to an initiator at a LUN",
             lambda c, a: c.export_create(a.pool, a.vol, a.initiator, a.lun))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("vol")
    s.add_argument("initiator", help="the initiator's IQN")
    s.add_argument("lun", type=lun_arg)
    s = leaf(exp, "destroy", "remove an export",
             lambda c, a: c.export_destroy(a.pool, a.vol, a.initiator))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("vol")
    s.add_argument("initiator")

    nv = group("nvme", "NVMe/TCP exports of volumes to hosts (plugin targetd-nvmet)")
    leaf(nv, "list", "list the NVMe exports", lambda c, a: c.nvme_export_list(),
         show_nvme_exports)  # fmt: skip
    s = leaf(nv, "create", "export a volume to a host NQN (prints the subsystem and nsid)",
             lambda c, a: c.nvme_export_create(a.pool, a.vol, a.host, a.nsid))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("vol")
    s.add_argument("host", help="the host's NQN (its /etc/nvme/hostnqn)")
    s.add_argument("--nsid", type=int, help="namespace id, 1..1024 (default: lowest free)")
    s = leaf(nv, "destroy", "remove an NVMe export",
             lambda c, a: c.nvme_export_destroy(a.pool, a.vol, a.host))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("vol")
    s.add_argument("host")
    leaf(nv, "hosts", "list the NVMe hosts", lambda c, a: c.nvme_host_list(), show_nvme_hosts)
    s = leaf(nv, "auth", "require DH-HMAC-CHAP from a host", cmd_nvme_host_auth)
    s.add_argument("host")
    s.add_argument(
        "--host-key-file",
        metavar="FILE",
        required=True,
        help="the host's DHHC-1 key, as nvme gen-dhchap-key prints it ('-': stdin)",
    )
    s.add_argument(
        "--ctrl-key-file", metavar="FILE", help="bidirectional: the controller's DHHC-1 key"
    )
    s.add_argument("--hash", metavar="HASH",
                   choices=("hmac(sha256)", "hmac(sha384)", "hmac(sha512)"),
                   help="hmac(sha256) (default), hmac(sha384) or hmac(sha512)")  # fmt: skip
    s.add_argument("--dhgroup", metavar="GROUP",
                   choices=("null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144",
                            "ffdhe8192"),
                   help="null (default) or ffdhe2048 ... ffdhe8192")  # fmt: skip
    s = leaf(nv, "noauth", "stop requiring DH-HMAC-CHAP from a host",
             lambda c, a: c.nvme_host_clear_auth(a.host))  # fmt: skip
    s.add_argument("host")

    ini = group("initiator", "iSCSI initiators")
    s = leaf(ini, "list", "list the initiators",
             lambda c, a: c.initiator_list(True if a.standalone else None),
             show_initiators)  # fmt: skip
    s.add_argument("--standalone", action="store_true", help="only those in no access group")
    s = leaf(ini, "auth", "set CHAP for an initiator (no --in/--out-user: CHAP off)",
             cmd_initiator_auth)  # fmt: skip
    s.add_argument("initiator")
    s.add_argument("--in-user", help="CHAP user the initiator must present")
    s.add_argument("--in-pass-file", metavar="FILE", help="its secret ('-': stdin)")
    s.add_argument("--out-user", help="mutual CHAP: the target's user")
    s.add_argument("--out-pass-file", metavar="FILE", help="its secret")

    ag = group("ag", "access groups")
    leaf(ag, "list", "list the access groups", lambda c, a: c.access_group_list(), show_groups)
    s = leaf(ag, "create", "create a group with one initiator",
             lambda c, a: c.access_group_create(a.group, a.initiator))  # fmt: skip
    s.add_argument("group")
    s.add_argument("initiator")
    s = leaf(ag, "destroy", "destroy a group (its initiators and mappings)",
             lambda c, a: c.access_group_destroy(a.group))  # fmt: skip
    s.add_argument("group")
    s = leaf(ag, "add", "add an initiator to a group (created if absent)",
             lambda c, a: c.access_group_init_add(a.group, a.initiator))  # fmt: skip
    s.add_argument("group")
    s.add_argument("initiator")
    s = leaf(ag, "del", "remove an initiator from a group",
             lambda c, a: c.access_group_init_del(a.group, a.initiator))  # fmt: skip
    s.add_argument("group")
    s.add_argument("initiator")
    s = leaf(ag, "map", "map a volume to a group",
             lambda c, a: c.access_group_map_create(a.pool, a.vol, a.group, a.lun))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("vol")
    s.add_argument("group")
    s.add_argument("--lun", type=lun_arg, help="host LUN id (default: lowest free)")
    s = leaf(ag, "unmap", "unmap a volume from a group",
             lambda c, a: c.access_group_map_destroy(a.pool, a.vol, a.group))  # fmt: skip
    s.add_argument("pool")
    s.add_argument("vol")
    s.add_argument("group")
    leaf(ag, "maps", "list the mappings", lambda c, a: c.access_group_map_list(), show_maps)

    fs = group("fs", "file systems")
    leaf(fs, "list", "list the file systems", lambda c, a: c.fs_list(), show_filesystems)
    s = leaf(fs, "create", "create a file system",
             lambda c, a: c.fs_create(a.pool, a.name, a.size))  # fmt: skip
    s.add_argument("pool", help="fs pool (its mount point)")
    s.add_argument("name")
    s.add_argument("size", type=size_arg, nargs="?", default=0, help="quota (default: none)")
    s = leaf(fs, "destroy", "destroy a file system and its snapshots", cmd_fs_destroy)
    s.add_argument("fs", help="uuid, path, POOL:NAME or name")
    s = leaf(fs, "clone", "clone a file system (or one of its snapshots)", cmd_fs_clone)
    s.add_argument("fs", help="uuid, path, POOL:NAME or name")
    s.add_argument("dest", help="name of the new file system")
    s.add_argument("--snapshot", help="clone this snapshot (name or uuid)")

    snap = group("snap", "file system snapshots")
    s = leaf(snap, "list", "list the snapshots of a file system",
             lambda c, a: c.ss_list(resolve_fs(c, a.fs)["uuid"]), show_snapshots)  # fmt: skip
    s.add_argument("fs", help="uuid, path, POOL:NAME or name")
    s = leaf(snap, "create", "take a read-only snapshot",
             lambda c, a: c.fs_snapshot(resolve_fs(c, a.fs)["uuid"], a.name))  # fmt: skip
    s.add_argument("fs", help="uuid, path, POOL:NAME or name")
    s.add_argument("name")
    s = leaf(snap, "delete", "delete a snapshot", cmd_snap_delete)
    s.add_argument("fs", help="uuid, path, POOL:NAME or name")
    s.add_argument("snapshot", help="name or uuid")

    nfs = group("nfs", "NFS exports")
    leaf(nfs, "list", "list the NFS exports", lambda c, a: c.nfs_export_list(), show_nfs)
    s = leaf(nfs, "add", "export a path to a host", cmd_nfs_add, show_nfs_ref)
    s.add_argument("host", help="exports(5) host: name, wildcard, @netgroup, network, *")
    s.add_argument("path")
    s.add_argument("-o", "--options", type=options_arg, action="append", default=[],
                   help="exports(5) options, comma-separated (rw,no_root_squash)")  # fmt: skip
    s.add_argument("--chown", metavar="UID[:GID]", help="change the owner of the path first")
    s = leaf(nfs, "remove", "remove an NFS export",
             lambda c, a: c.nfs_export_remove(a.host, a.path))  # fmt: skip
    s.add_argument("host")
    s.add_argument("path")
    leaf(nfs, "auth", "list the supported security flavours",
         lambda c, a: c.nfs_export_auth_list(), show_lines)  # fmt: skip

    s = objects.add_parser("call", help="call any method with JSON parameters", parents=[out])
    s.set_defaults(handler=cmd_call, show=show_json)
    s.add_argument("method")
    s.add_argument("params", nargs="?", help='a JSON object, e.g. \'{"pool": "vg-targetd"}\'')
    s = objects.add_parser("discover", help="describe the daemon's methods", parents=[out])
    s.set_defaults(handler=lambda c, a: c.discover(), show=show_methods)
    return p


def show_nfs_ref(ref: dict[str, Any], a: argparse.Namespace) -> str:
    return f"exported {ref.get('path')} to {ref.get('host')}"


def cleartext_to_remote(url: str) -> bool:
    """http:// to anything but this machine: Basic auth would expose the password."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        return False
    host = u.hostname or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def _print_err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    try:
        settings = load_settings(
            url=args.url,
            user=args.user,
            password_file=args.password_file,
            ca=args.ca,
            insecure=args.insecure,
            timeout=args.timeout,
            config=args.config,
            warn=lambda m: _print_err(f"warning: {m}"),
            prompt=getpass.getpass if sys.stdin.isatty() else None,
        )
    except ConfigurationError as e:
        _print_err(str(e))
        return EXIT_USAGE
    if cleartext_to_remote(settings.url):
        _print_err(f"warning: the password goes unencrypted over the network to {settings.url}")
    try:
        with Client(
            settings.url,
            settings.user,
            settings.password,
            ca=settings.ca,
            insecure=settings.insecure,
            timeout=settings.timeout,
        ) as client:
            result = args.handler(client, args)
    except UsageError as e:
        _print_err(str(e))
        return EXIT_USAGE
    except ConfigurationError as e:
        _print_err(str(e))
        return EXIT_USAGE
    except TargetdError as e:
        name = f" ({e.name})" if e.name else ""
        data = f" [{json.dumps(e.data)}]" if e.data is not None else ""
        _print_err(f"error {e.code}{name}: {e.message}{data}")
        return EXIT_SERVER
    except AuthenticationError as e:
        _print_err(str(e))
        return EXIT_AUTH
    except TransportError as e:
        _print_err(str(e))
        return EXIT_TRANSPORT
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    elif args.show is not None:
        text = args.show(result, args)
        if text:
            print(text)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
