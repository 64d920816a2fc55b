"""The configuration file: loading, the core's own keys, checking every key.

The file is YAML (``/etc/target/targetd.yaml`` by default), compatible with the old
daemon's keys. Plugins declare their own keys (:class:`ConfigOption`) through the
``targetd_declare`` hook; every declared key is type-checked, every problem is
reported with its key, and keys nobody declared are a warning, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, TargetdError
from .params import check_value

DEFAULT_CONFIG_PATH = Path("/etc/target/targetd.yaml")
DEFAULT_PORT = 18700


@dataclass(frozen=True)
class ConfigOption:
    """A configuration key: its type (as for RPC parameters), default and meaning.

    ``check`` may normalise the value further or raise ValueError with a message.
    ``secret`` keys are never logged.
    """

    key: str
    type: Any
    default: Any = None
    help: str = ""
    required: bool = False
    secret: bool = False
    check: Callable[[Any], Any] | None = None


def _check_log_level(value: str) -> str:
    levels = ("debug", "info", "warning", "error", "critical")
    if value.lower() not in levels:
        raise ValueError(f"must be one of {', '.join(levels)}")
    return value.lower()


def _check_log_format(value: str) -> str:
    if value not in ("auto", "console", "json"):
        raise ValueError("must be auto, console or json")
    return value


def parse_bind(value: str) -> tuple[str, int]:
    """``ADDRESS:PORT`` (``[v6addr]:PORT`` for IPv6) -> (address, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not ADDRESS:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"port {port!r} is not a number") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"port {p} is out of range")
    return host, p


def _check_bind(value: str) -> str:
    parse_bind(value)
    return value


def _check_positive(value: int) -> int:
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _check_positive_seconds(value: float) -> float:
    if not 0 < value <= 3600:
        raise ValueError("must be more than 0 and at most 3600 seconds")
    return value


CORE_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("user", str, "admin", "user name for HTTP Basic authentication"),
    ConfigOption(
        "password",
        str,
        None,
        "add 'password: <a secret>' to the file; there is no default password",
        required=True,
        secret=True,
    ),
    ConfigOption("ssl", bool, False, "serve HTTPS instead of HTTP"),
    ConfigOption("ssl_cert", str, "/etc/target/targetd_cert.pem", "TLS certificate (PEM)"),
    ConfigOption("ssl_key", str, "/etc/target/targetd_key.pem", "TLS private key (PEM, mode 0600)"),
    ConfigOption("log_level", str, "info", "debug, info, warning or error", check=_check_log_level),
    ConfigOption(
        "log_format",
        str,
        "auto",
        "console, json, or auto (console on a terminal)",
        check=_check_log_format,
    ),
    ConfigOption("bind", str, f"0.0.0.0:{DEFAULT_PORT}", "listen ADDRESS:PORT", check=_check_bind),
    ConfigOption("workers", int, 2, "number of gunicorn worker processes", check=_check_positive),
    ConfigOption(
        "threads", int, 8, "threads per worker kept waiting for connections", check=_check_positive
    ),
    ConfigOption(
        "max_connections",
        int,
        1000,
        "connections one worker serves at once (a thread each)",
        check=_check_positive,
    ),
    ConfigOption(
        "request_timeout",
        float,
        10.0,
        "seconds a client has to send a whole request before its connection is closed",
        check=_check_positive_seconds,
    ),
    ConfigOption(
        "plugins",
        list[str] | None,
        None,
        "names of the plugins to load (default: every installed plugin)",
    ),
    ConfigOption("state_dir", str, "/run/targetd", "directory for lock files"),
    ConfigOption(
        "fs_pools",
        list[str],
        [],
        "mount points of file system pools (btrfs or ZFS; each fs plugin takes its own)",
    ),
)


class Config(Mapping[str, Any]):
    """The checked configuration: every declared key has a value (its default if absent)."""

    def __init__(
        self,
        values: dict[str, Any],
        path: Path | None = None,
        given: Iterable[str] = (),
    ) -> None:
        self._values = dict(values)
        self.path = path
        self._given = frozenset(given)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def raw_has(self, key: str) -> bool:
        """True if the key was written in the file (not defaulted)."""
        return key in self._given


def load_file(path: Path) -> dict[str, Any]:
    """Read the YAML file; raise ConfigError for an unreadable or malformed file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("(file)", f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("(file)", f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("(file)", f"{path} must be a YAML mapping of keys to values")
    return data


def check(
    raw: dict[str, Any], options: Iterable[ConfigOption], path: Path | None = None
) -> tuple[Config, list[ConfigError], list[str]]:
    """Check ``raw`` against ``options``: (config, errors, unknown keys)."""
    errors: list[ConfigError] = []
    values: dict[str, Any] = {}
    declared: dict[str, ConfigOption] = {}
    for opt in options:
        declared.setdefault(opt.key, opt)
    for key, opt in declared.items():
        if key not in raw or raw[key] is None and opt.default is not None:
            if opt.required:
                errors.append(ConfigError(key, f"is required: {opt.help}"))
            values[key] = opt.default
            continue
        try:
            value = check_value(opt.type, raw[key], key)
            if opt.check is not None:
                value = opt.check(value)
        except TargetdError as exc:
            errors.append(ConfigError(key, exc.message.removeprefix(f"{key} ")))
            continue
        except ValueError as exc:
            errors.append(ConfigError(key, str(exc)))
            continue
        values[key] = value
    unknown = sorted(k for k in raw if k not in declared)
    return Config(values, path, given=raw), errors, unknown
