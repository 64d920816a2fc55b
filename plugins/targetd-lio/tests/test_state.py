"""The state file's flat-cost paths: the reused document and the per-entry encoding."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from targetd_lio.state import StateFile, empty

names = st.text(min_size=1, max_size=12)
entries = st.dictionaries(names, st.one_of(st.none(), st.integers(), names), max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    first=st.dictionaries(names, entries, max_size=6),
    second=st.dictionaries(names, entries, max_size=6),
    auth=st.dictionaries(names, entries, max_size=3),
)
def test_encoding_is_json_dumps_after_any_replacement(first, second, auth) -> None:
    state = StateFile(Path("/nonexistent/state.json"))
    doc = empty()
    doc["acls"].update(first)
    doc["auth"].update(auth)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert state._encode(doc) == canonical
    for name, entry in second.items():  # replaced and new entries, others reused
        doc["acls"][name] = entry
    doc["acls"].pop(next(iter(first), ""), None)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert state._encode(doc) == canonical


def test_a_saved_document_is_reused_until_someone_else_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    mine, other = StateFile(path), StateFile(path)
    doc = mine.load()
    doc["acls"]["a"] = {"tag": None, "luns": {}}
    mine.save(doc)
    assert mine.load() is doc  # nobody else wrote: no read, no parse
    mine.save(doc)
    theirs = other.load()
    assert theirs is not doc and theirs == doc
    theirs["acls"]["b"] = {"tag": "g", "luns": {}}
    other.save(theirs)
    again = mine.load()
    assert again is not doc and sorted(again["acls"]) == ["a", "b"]
    # a document handed out and not saved (a failed change) is read again next time
    again["acls"]["c"] = {}
    assert "c" not in mine.load()["acls"]
