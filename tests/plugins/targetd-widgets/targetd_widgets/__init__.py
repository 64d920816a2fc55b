"""A third-party plugin as an outside author writes it, with one import.

- ``widget_pools``: names of in-memory block pools (:class:`WidgetPool`);
- ``widget_export`` / ``widget_unexport``: the :class:`WidgetExports` handler, so the
  core refuses ``vol_destroy`` of an exported widget volume (-303);
- ``widget_frob``: a method with its own error code, WIDGET_JAMMED (-7000);
- a hook wrapper around ``targetd_serve`` that records what the serve steps did.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

from targetd_core.plugin import (
    BlockPool,
    Code,
    ConfigOption,
    Core,
    Declare,
    ErrorCode,
    ExportHandler,
    Name,
    PoolInfo,
    PoolName,
    Register,
    TargetdError,
    Volume,
    impl,
    rpc_method,
)

WIDGET_JAMMED = ErrorCode(-7000, "WIDGET_JAMMED", "the widget is jammed; unjam it and retry")
SIZE = 1 << 30


class WidgetPool(BlockPool):
    """Volumes kept in memory: enough to exercise the core's routing and checks."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.volumes: dict[str, Volume] = {}

    def info(self) -> PoolInfo:
        used = sum(v.size for v in self.volumes.values())
        return PoolInfo(self.name, SIZE, SIZE - used, "block")

    def list_volumes(self) -> list[Volume]:
        return sorted(self.volumes.values(), key=lambda v: v.name)

    def create_volume(self, name: str, size: int) -> None:
        self.volumes[name] = Volume(name, size, str(uuid.uuid4()))

    def destroy_volume(self, name: str) -> None:
        del self.volumes[name]

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        self.create_volume(dst, size or self.volumes[src].size)

    def resize_volume(self, name: str, size: int) -> None:
        self.volumes[name] = Volume(name, size, self.volumes[name].uuid)

    def device_path(self, name: str) -> str:
        return f"/dev/widget/{self.name}/{name}"


class WidgetExports(ExportHandler):
    name = "widget"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.exported: set[tuple[str, str]] = set()
        self.served = False
        self.serve_seen: list[tuple[str, bool]] = []

    def volume_exported(self, pool: str, volume: str) -> bool:
        return (pool, volume) in self.exported

    def export_count(self) -> int | None:
        return len(self.exported)

    def export(self, pool: str, volume: str) -> None:
        p = self.core.block_pool(pool)  # -110 for a pool nobody owns
        if p.get_volume(volume) is None:
            raise TargetdError(Code.VOLUME_NOT_FOUND, f"no volume {volume!r} in {pool!r}")
        self.exported.add((pool, volume))


@impl
def targetd_declare(declare: Declare) -> None:
    declare.config_option(
        ConfigOption("widget_pools", list[str], [], "names of in-memory widget pools")
    )
    declare.error_code(WIDGET_JAMMED)


@impl
def targetd_register(register: Register) -> None:
    if not register.config["widget_pools"]:
        return  # installed beside the shipped plugins in CI: silent unless configured
    register.block_pool(*(WidgetPool(n) for n in register.config["widget_pools"]))
    exports = WidgetExports(register.core)
    register.export_handler(exports)

    @rpc_method(errors=(Code.INVALID_POOL, Code.VOLUME_NOT_FOUND))
    def widget_export(pool: PoolName, vol: Name) -> None:
        """Export a widget volume."""
        exports.export(pool, vol)

    @rpc_method(errors=(WIDGET_JAMMED,))
    def widget_frob(vol: Name) -> str:
        """Frob a widget; ``jammed`` is always jammed."""
        if vol == "jammed":
            raise TargetdError(WIDGET_JAMMED, f"widget {vol!r} is jammed")
        return f"frobbed {vol}"

    @rpc_method(changes_storage=False)
    def widget_status() -> dict[str, object]:
        """Whether the serve step ran, and what the serve wrapper saw around it."""
        return {"served": exports.served, "wrapper": [list(s) for s in exports.serve_seen]}

    register.rpc_method(widget_export, widget_frob, widget_status)

    def serve() -> None:
        exports.served = True

    register.on_serve(serve)


@impl(hookwrapper=True)
def targetd_serve(core: Core) -> Generator[None, Any, None]:
    """Wraps every plugin's serve steps. An old-style wrapper (``hookwrapper``): it runs
    on every pluggy targetd supports, Debian 12's 1.0 included (``wrapper=True`` needs
    pluggy 1.1)."""
    mine = [h for h in core.export_handlers if isinstance(h, WidgetExports)]
    for h in mine:
        h.serve_seen.append(("before", h.served))
    yield
    for h in mine:
        h.serve_seen.append(("after", h.served))
