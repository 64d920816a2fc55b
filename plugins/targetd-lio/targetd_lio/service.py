"""The iSCSI export handler: exports, initiators' CHAP, access groups, on one LIO TPG.

:class:`LioExports` is put together from one module per concern:

- :mod:`.base`: the service's state, which volume a TPG LUN exports, the transaction
  (undo on failure, then the state file record of the touched ACLs);
- :mod:`.backstores`: backstores and TPG LUNs, made on first export, removed when unused;
- :mod:`.acls`: ACLs and their CHAP settings (``initiator_set_auth``);
- :mod:`.exports`: ``export_create`` and ``export_destroy`` (LUN mapping);
- :mod:`.groups`: the ``access_group_*`` changes;
- :mod:`.listing`: the listings and ``volume_exported`` (questions: they change nothing);
- :mod:`.restore`: the start-up replay of the state file;
- :mod:`.adoption`: the old daemon's exports (recorded at start-up, moved on change).
"""

from __future__ import annotations

from targetd_core.plugin import ExportHandler

from .exports import ExportsMixin
from .groups import GroupsMixin
from .listing import ListingMixin
from .restore import RestoreMixin


class LioExports(ExportsMixin, GroupsMixin, RestoreMixin, ListingMixin, ExportHandler):
    """Exports volumes of any block pool over iSCSI through one LIO target's TPG 1."""

    name = "iscsi"
