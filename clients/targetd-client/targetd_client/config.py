"""Where targetd-cli gets the URL and credentials from.

Order, first found wins: command-line flags, then the environment (``TARGETD_URL``,
``TARGETD_USER``, ``TARGETD_PASSWORD``, ``TARGETD_CA``: what the appliance and the test
tiers set), then the config file (TOML, ``$XDG_CONFIG_HOME/targetd-cli.toml``, by default
``~/.config/targetd-cli.toml``, or ``--config`` / ``TARGETD_CLI_CONFIG``). The password is
never taken from a command-line argument (other users see argv in ``ps``); ``--password-file``
names a file holding it. A config or password file readable by others gets a warning.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .transport import normalise_url

KEYS = {"url", "user", "password", "password_file", "ca", "insecure", "timeout"}


class ConfigurationError(Exception):
    """Missing or unusable settings (a usage error for the command-line tool)."""


@dataclass
class Settings:
    url: str
    user: str
    password: str
    ca: str | None = None
    insecure: bool = False
    timeout: float = 300.0

    def __repr__(self) -> str:  # never show the password
        return (
            f"Settings(url={self.url!r}, user={self.user!r}, password=***, ca={self.ca!r}, "
            f"insecure={self.insecure!r}, timeout={self.timeout!r})"
        )


def default_config_path(env: Mapping[str, str]) -> Path:
    if env.get("TARGETD_CLI_CONFIG"):
        return Path(env["TARGETD_CLI_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "targetd-cli.toml"


def _warn_if_exposed(path: Path, what: str, warn: Callable[[str], None]) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        warn(
            f"{path} holds {what} and is accessible by other users (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )


def read_config_file(
    path: Path, required: bool, warn: Callable[[str], None] = lambda m: None
) -> dict[str, Any]:
    """The settings of a TOML config file; {} if it does not exist and is not required."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigurationError(f"config file {path} does not exist") from None
        return {}
    except OSError as e:
        raise ConfigurationError(f"cannot read config file {path}: {e.strerror}") from e
    try:
        cfg = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError(f"config file {path}: not valid TOML: {e}") from e
    unknown = set(cfg) - KEYS
    if unknown:
        raise ConfigurationError(
            f"config file {path}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KEYS))})"
        )
    for key in ("url", "user", "password", "password_file", "ca"):
        if key in cfg and not isinstance(cfg[key], str):
            raise ConfigurationError(f"config file {path}: {key} must be a string")
    if "insecure" in cfg and not isinstance(cfg["insecure"], bool):
        raise ConfigurationError(f"config file {path}: insecure must be true or false")
    if "timeout" in cfg and (
        isinstance(cfg["timeout"], bool)
        or not isinstance(cfg["timeout"], int | float)
        or cfg["timeout"] <= 0
    ):
        raise ConfigurationError(f"config file {path}: timeout must be a positive number")
    if "password" in cfg:
        _warn_if_exposed(path, "a password", warn)
    # relative paths in the file are relative to the file
    for key in ("password_file", "ca"):
        if key in cfg:
            p = Path(cfg[key]).expanduser()
            cfg[key] = str(p if p.is_absolute() else path.parent / p)
    return cfg


def read_password_file(name: str, warn: Callable[[str], None] = lambda m: None) -> str:
    """The first line of a file ('-': standard input), without its line ending."""
    try:
        if name == "-":
            text = sys.stdin.readline()
        else:
            path = Path(name).expanduser()
            text = path.read_text(encoding="utf-8")
            _warn_if_exposed(path, "a password", warn)
    except OSError as e:
        raise ConfigurationError(f"cannot read password file {name}: {e.strerror}") from e
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ConfigurationError(f"password file {name} is empty")
    return password


def load_settings(
    url: str | None = None,
    user: str | None = None,
    password_file: str | None = None,
    ca: str | None = None,
    insecure: bool = False,
    timeout: float | None = None,
    config: str | None = None,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda m: None,
    prompt: Callable[[str], str] | None = None,
) -> Settings:
    """Merge flags (the arguments), the environment and the config file.

    ``prompt``, if given, is asked for the password when no source has one (the tool passes
    ``getpass`` when standard input is a terminal).
    """
    env = os.environ if env is None else env
    path = Path(config).expanduser() if config else default_config_path(env)
    cfg = read_config_file(path, required=bool(config or env.get("TARGETD_CLI_CONFIG")), warn=warn)

    url = url or env.get("TARGETD_URL") or cfg.get("url")
    if not url:
        raise ConfigurationError(
            f'no targetd URL: use --url, set TARGETD_URL, or put url = "..." in {path}'
        )
    try:
        url = normalise_url(url)
    except ValueError as e:
        raise ConfigurationError(f"bad targetd URL: {e}") from e
    user = user or env.get("TARGETD_USER") or cfg.get("user") or "admin"

    if password_file:
        password = read_password_file(password_file, warn)
    elif env.get("TARGETD_PASSWORD"):
        password = env["TARGETD_PASSWORD"]
    elif cfg.get("password"):
        password = cfg["password"]
    elif cfg.get("password_file"):
        password = read_password_file(cfg["password_file"], warn)
    elif prompt is not None:
        password = prompt(f"Password for {user} at {url}: ")
    else:
        raise ConfigurationError(
            "no password: set TARGETD_PASSWORD, use --password-file FILE, "
            f'or put password_file = "..." in {path}'
        )

    ca = ca or env.get("TARGETD_CA") or cfg.get("ca") or None
    insecure = insecure or bool(cfg.get("insecure", False))
    return Settings(
        url=url,
        user=user,
        password=password,
        ca=str(Path(ca).expanduser()) if ca else None,
        insecure=insecure,
        timeout=float(timeout or cfg.get("timeout") or 300.0),
    )
