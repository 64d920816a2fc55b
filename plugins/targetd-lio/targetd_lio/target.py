"""Setting up the iSCSI target and its TPG through rtslib-fb.

rtslib loads the kernel modules (target_core_mod, iscsi_target_mod), mounts configfs if
needed and creates the target, TPG 1 and the network portals. This happens once per
process, the first time an export is made or restored; afterwards a single ``stat`` of
the TPG directory confirms it is still there.

TPG attributes, and why:

- ``generate_node_acls=0``: only initiators with an ACL (an export or a group) may log in;
- ``authentication=0``: the TPG offers ``AuthMethod=CHAP,None``; whether CHAP is required
  is decided per ACL (``acls/<iqn>/attrib/authentication``, Linux 6.0+), set by
  ``initiator_set_auth``. An initiator without credentials keeps logging in without CHAP;
  one with in-credentials must present them (a login offering ``None`` is refused by the
  kernel: "Initiator sent AuthMethod=None but Target is enforcing iSCSI Authentication");
- ``demo_mode_write_protect=1``, ``cache_dynamic_acls=0``: no demo-mode access at all.
"""

from __future__ import annotations

from typing import Any

from targetd_core.plugin import Code, TargetdError

ISCSI_PORT = 3260
TPG_ATTRIBUTES = {
    "generate_node_acls": "0",
    "authentication": "0",
    "demo_mode_write_protect": "1",
    "cache_dynamic_acls": "0",
}


def rtslib() -> Any:
    """The rtslib_fb module (imported late: it loads libudev)."""
    try:
        import rtslib_fb
    except ImportError as exc:  # pragma: no cover - a packaging problem
        raise TargetdError(Code.UNEXPECTED, f"rtslib-fb is not installed: {exc}") from None
    return rtslib_fb


def rtslib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rtslib-fb")
    except PackageNotFoundError:
        return "unknown"


def ensure_target(target_name: str, portals: list[str]) -> None:
    """Create (or check) the iSCSI target, TPG 1 with its attributes, its portals; enable it."""
    rts = rtslib()
    try:
        rts.RTSRoot()  # configfs mounted, target_core_mod loaded
        fabric = rts.FabricModule("iscsi")
        target = rts.Target(fabric, target_name)
        tpg = rts.TPG(target, 1)
        for key, value in TPG_ATTRIBUTES.items():
            if tpg.get_attribute(key).strip() != value:
                tpg.set_attribute(key, value)
        for address in portals:
            ip = f"[{address}]" if ":" in address and not address.startswith("[") else address
            rts.NetworkPortal(tpg, ip, ISCSI_PORT)
        tpg.enable = True
    except (rts.RTSLibError, OSError) as exc:
        raise TargetdError(
            Code.UNEXPECTED,
            f"cannot set up iSCSI target {target_name}: {exc} (is the kernel's LIO target "
            "available: configfs, target_core_mod, iscsi_target_mod?)",
        ) from None


def check_target_name(name: str) -> str:
    """A valid iSCSI target name (for the config check); raises ValueError."""
    from .naming import normalize_initiator

    try:
        return normalize_initiator(name, "target_name")
    except TargetdError as exc:
        raise ValueError(exc.message.replace("initiator", "target")) from None
