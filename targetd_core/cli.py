"""The ``targetd`` command: run the daemon, or list the plugins."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import structlog

from . import __version__, logs
from .auth import Authenticator
from .config import DEFAULT_CONFIG_PATH, parse_bind
from .loader import ENTRY_POINT_GROUP, StartupError, build_core, discover, serve_hooks
from .rpc import Dispatcher
from .tlscheck import check_tls_files
from .wsgi import TargetdApp


def _parser() -> argparse.ArgumentParser:
    def common(p: argparse.ArgumentParser, default: object) -> None:
        p.add_argument(
            "-c",
            "--config",
            type=Path,
            default=default,
            help=f"configuration file (default {DEFAULT_CONFIG_PATH})",
        )
        p.add_argument(
            "--bind",
            metavar="ADDRESS:PORT",
            default=None if default else default,
            help="listen address, overriding the 'bind' configuration key",
        )

    p = argparse.ArgumentParser(
        prog="targetd",
        description="Remote storage management daemon (JSON-RPC 2.0 over HTTP(S)).",
    )
    common(p, DEFAULT_CONFIG_PATH)
    p.add_argument("--version", action="version", version=f"targetd {__version__}")
    sub = p.add_subparsers(dest="command")
    common(
        sub.add_parser("serve", help="run the daemon in the foreground (the default)"),
        argparse.SUPPRESS,
    )
    pl = sub.add_parser("plugins", help="list installed plugins and what they contribute")
    common(pl, argparse.SUPPRESS)
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    common(
        sub.add_parser("check", help="check the configuration and plugins, then exit"),
        argparse.SUPPRESS,
    )
    return p


def _fail(path: Path, exc: StartupError) -> int:
    for w in exc.warnings:
        print(f"targetd: warning: {w}", file=sys.stderr)
    print(f"targetd: cannot start; problems in {path}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 2


def _plugins(args: argparse.Namespace) -> int:
    try:
        core, _ = build_core(args.config)
        infos = list(core.plugins.values())
        note = ""
    except StartupError as exc:
        # Still show what is installed, without what each contributes.
        infos = []
        note = "; ".join(exc.problems)
        for name, ep in sorted(discover().items()):
            dist = getattr(ep, "dist", None)
            infos.append(
                type(
                    "P",
                    (),
                    {
                        "name": name,
                        "version": dist.version if dist else "?",
                        "distribution": dist.metadata["Name"] if dist else "?",
                        "block_pools": [],
                        "fs_pools": [],
                        "export_handlers": [],
                        "methods": [],
                        "config_keys": [],
                        "error_codes": [],
                    },
                )()
            )
    if args.json:
        print(
            json.dumps(
                [
                    vars(i)
                    if hasattr(i, "__dataclass_fields__")
                    else {k: getattr(i, k) for k in ("name", "version", "distribution")}
                    for i in infos
                ],
                indent=2,
            )
        )
        return 0
    print(f"plugins (entry-point group '{ENTRY_POINT_GROUP}'):")
    for i in infos:
        print(f"  {i.name} {i.version} ({i.distribution})")
        for label, items in (
            ("block pools", i.block_pools),
            ("fs pools", i.fs_pools),
            ("export handlers", i.export_handlers),
            ("methods", i.methods),
            ("config keys", i.config_keys),
            ("error codes", [str(c) for c in i.error_codes]),
        ):
            if items:
                print(f"    {label}: {', '.join(items)}")
    if note:
        print(f"(contributions unknown: the configuration does not load: {note})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure("warning", "auto")  # until the configuration says otherwise
    if args.command == "plugins":
        return _plugins(args)
    if args.bind:
        try:
            parse_bind(args.bind)
        except ValueError as exc:
            print(f"targetd: --bind: {exc}", file=sys.stderr)
            return 2
    try:
        core, warnings = build_core(args.config)
    except StartupError as exc:
        return _fail(args.config, exc)
    tls_problems = check_tls_files(core.config)
    if tls_problems:
        return _fail(args.config, StartupError(tls_problems))
    cfg = core.config
    logs.add_secret(cfg["password"])
    logs.configure(cfg["log_level"], cfg["log_format"])
    log = structlog.get_logger("targetd")
    for w in warnings:
        log.warning(w)
    if args.command == "check":
        print("configuration OK", file=sys.stderr)
        return 0
    from . import metrics
    from .server import TargetdServer, gunicorn_options

    try:
        serve_hooks(core)
    except Exception as exc:
        log.error("start-up failed", error=str(exc))
        print(f"targetd: cannot start: {exc}", file=sys.stderr)
        return 1

    metrics.prepare(Path(cfg["state_dir"]))
    meter = metrics.Metrics(core)
    auth = Authenticator(cfg["user"], cfg["password"], Path(cfg["state_dir"]) / "tarpit")
    auth.clear()  # slots of a daemon killed during a delay (or of the old hashed layout)
    app = TargetdApp(Dispatcher(core, meter), auth, meter)
    options = gunicorn_options(cfg, args.bind)
    log.info(
        "starting",
        version=__version__,
        bind=options["bind"],
        ssl=cfg["ssl"],
        workers=cfg["workers"],
        plugins=sorted(core.plugins),
        pools=sorted([*core.block_pools, *core.fs_pools]),
        pid=os.getpid(),
    )
    TargetdServer(app, options, cfg).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
