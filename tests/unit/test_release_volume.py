"""vol_destroy asks every export handler (volume_exported, a question), then lets each
release the volume (release_volume) right before the pool destroys it."""

from __future__ import annotations

from pathlib import Path

from targetd_core import testing
from targetd_core.plugin import BlockPool, ExportHandler, PoolInfo, Register, Volume, impl


class Pool(BlockPool):
    def __init__(self, events: list[str]) -> None:
        super().__init__("p")
        self.events = events
        self.vols = {"v": Volume("v", 1, "u"), "w": Volume("w", 1, "u2")}

    def info(self) -> PoolInfo:
        return PoolInfo("p", 2, 2, "block")

    def list_volumes(self) -> list[Volume]:
        return list(self.vols.values())

    def create_volume(self, name: str, size: int) -> None:
        raise NotImplementedError

    def destroy_volume(self, name: str) -> None:
        self.events.append(f"destroy {name}")
        del self.vols[name]

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        raise NotImplementedError

    def resize_volume(self, name: str, size: int) -> None:
        raise NotImplementedError

    def device_path(self, name: str) -> str:
        return f"/dev/null/{name}"


class Handler(ExportHandler):
    def __init__(self, events: list[str], exported: set[str]) -> None:
        self.events = events
        self.exported = exported

    def volume_exported(self, pool: str, volume: str) -> bool:
        self.events.append(f"asked {volume}")
        return volume in self.exported

    def release_volume(self, pool: str, volume: str) -> None:
        self.events.append(f"release {volume}")


class Plugin:
    """A plugin object with one pool and one export handler that record what happens."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @impl
    def targetd_register(self, register: Register) -> None:
        register.block_pool(Pool(self.events))
        register.export_handler(Handler(self.events, {"w"}))


def test_vol_destroy_releases_then_destroys(tmp_path: Path) -> None:
    plugin = Plugin()
    t = testing.build({}, [plugin], tmp_path)
    events = plugin.events
    t.call("vol_destroy", pool="p", name="v")
    assert events == ["asked v", "release v", "destroy v"]
    events.clear()
    testing.assert_error(-303, t.call, "vol_destroy", pool="p", name="w")
    assert events == ["asked w"]  # exported: nothing released
