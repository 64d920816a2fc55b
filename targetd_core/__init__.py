"""targetd core: the JSON-RPC service, configuration, and the plugin host.

Storage backends live in separately installed plugins; see :mod:`targetd_core.plugin`
for the public API a plugin uses and :mod:`targetd_core.hookspecs` for the hooks.
"""

__version__ = "0.1.0"
