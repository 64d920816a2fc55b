"""Old name of :mod:`targetd_core.loader`, kept so existing imports keep working."""

from .loader import StartupError, build_core, discover, serve_hooks

__all__ = ["StartupError", "build_core", "discover", "serve_hooks"]
