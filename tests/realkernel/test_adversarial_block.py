"""The adversarial suite on the real kernel: LVM volumes and LIO exports in the appliance.

- Schema-driven fuzzing of every block, iSCSI and access-group method the running
  daemon describes (its own ``rpc.discover``), valid and mutated parameters: every reply
  valid JSON-RPC in strict JSON, never a 5xx or a traceback, never -1 or a success for
  input the schema or contract marks invalid, never a CHAP secret echoed; a refused call
  leaves LVM, LIO's configfs tree and the LIO state file exactly as they were; nothing
  appears outside configfs' target tree (finding 2's escape).
- A stateful model of volumes + exports: after every step ``vol_list``, ``export_list``,
  ``lvs`` and configfs agree with the model.

Small, fixed example budgets (each call in the appliance takes ~0.3-0.5 s) and the
suite's seed (``TARGETD_FUZZ_SEED``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from hypothesis_jsonschema import from_schema

from tests.host.adversarial import (
    EXPORTED_WWN,
    PROTOCOL_CODES,
    SEED,
    Tally,
    aimed_cases,
    check_reply_object,
    dumps_loose,
    fixed_settings,
    invalid_reason,
    mutated,
    secret_echoed,
    seed_note,
    strict_json,
)
from tests.realkernel.client import RPCError

THIN = "vg-targetd/thin_pool"
MiB = 1 << 20
TAG = uuid.uuid4().hex[:6]
INITIATORS = [f"iqn.1994-05.org.example.adv:{TAG}-a", f"iqn.1994-05.org.example.adv:{TAG}-b"]
VALID_EXAMPLES = 2
MUTATED_PER_PARAM = 1
#: Methods fuzzed here: everything about block volumes, iSCSI and access groups.
PREFIXES = ("vol_", "export_", "initiator_", "access_group_")
STATE_FILE = "/etc/target/targetd_lio.json"

GUEST_STATE = f"""
lvs --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_size 2>/dev/null
echo '=====';
find /sys/kernel/config/target -maxdepth 8 \\( -path '*/statistics' -o -path '*/alua' \\) -prune \
    -o -print 2>/dev/null | sort
echo '=====';
cat {STATE_FILE} 2>/dev/null
"""
#: Where finding 2's escape would land: anything of that name anywhere is a violation.
ESCAPES = "find / -xdev -maxdepth 8 -name 'targetd-escape*' 2>/dev/null; true"


class Response:
    """What ``check_http`` needs of a reply from the appliance's client."""

    def __init__(self, status: int, headers: Any, content: bytes) -> None:
        self.status_code = status
        self.headers = {"Content-Type": headers.get("Content-Type")}
        self.content = content
        self.text = content.decode("utf-8", "replace")


def escapes(guest_exec) -> str:
    return guest_exec(ESCAPES).stdout.decode("utf-8", "replace").strip()


def guest_state(guest_exec) -> dict[str, str]:
    out = guest_exec(GUEST_STATE).stdout.decode("utf-8", "replace").split("=====")
    keys = ["lvs", "configfs", "state_file"]
    return dict(zip(keys, (x.strip() for x in out), strict=False))


def _lv_names(state: dict[str, str]) -> set[tuple[str, str]]:
    try:
        report = json.loads(state["lvs"])["report"][0]["lv"]
    except (ValueError, KeyError, IndexError):
        return set()
    return {(lv["vg_name"], lv["lv_name"]) for lv in report}


def _cleanup(rpc, names: set[str], groups: set[str]) -> None:
    for e in rpc("export_list"):
        if e["initiator_wwn"] in (*INITIATORS, EXPORTED_WWN) or e["vol_name"] in names:
            rpc(
                "export_destroy",
                pool=e["pool"],
                vol=e["vol_name"],
                initiator_wwn=e["initiator_wwn"],
            )
    for g in rpc("access_group_list"):
        if g["name"] in groups or set(g["init_ids"]) & set(INITIATORS):
            rpc("access_group_destroy", ag_name=g["name"])
    for pool in (p["name"] for p in rpc("pool_list") if p["type"] == "block"):
        for v in rpc("vol_list", pool=pool):
            if v["name"] in names:
                try:
                    rpc("vol_destroy", pool=pool, name=v["name"])
                except RPCError:
                    pass


# -- fuzzing -------------------------------------------------------------------------------


def _strategy(name: str, schema: dict[str, Any], base: str, made: set[str]) -> Any:
    fresh = st.integers(0, 10**6).map(lambda n: f"adv{TAG}n{n}")
    if name in ("pool", "pool_name"):
        return st.one_of(st.just(THIN), st.just(THIN), st.just("vg-nope"), from_schema(schema))
    if name in ("name", "vol", "vol_orig", "vol_name"):
        return st.one_of(st.just(base), st.just(base), fresh)
    if name == "vol_new":
        return fresh
    if name in ("size",):
        return st.sampled_from([4 * MiB, 8 * MiB, 64 * MiB, None if "oneOf" in schema else 0])
    if name in ("initiator_wwn", "init_id"):
        return st.sampled_from(INITIATORS)
    if name in ("lun", "h_lun_id"):
        return st.integers(0, 255)
    if name == "ag_name":
        return st.sampled_from([f"adv{TAG}g0", f"adv{TAG}g1"])
    if name == "init_type":
        return st.just("iscsi")
    if name in ("in_user", "out_user"):
        return st.sampled_from([None, "", "user1"])
    if name in ("in_pass", "out_pass"):
        return st.sampled_from([None, "", "password1234"])
    return from_schema(schema)


def test_block_and_lio_methods_fuzzed(rpc, rpc_client, guest_exec):
    doc = rpc("rpc.discover")
    methods = [m for m in doc["methods"] if m["name"].startswith(PREFIXES)]
    assert {"vol_create", "export_create", "initiator_set_auth"} <= {m["name"] for m in methods}
    base = f"adv{TAG}base"
    rpc("vol_create", pool=THIN, name=base, size=8 * MiB)
    made: set[str] = {base}
    groups = {f"adv{TAG}g0", f"adv{TAG}g1"}
    tally = Tally()
    known: dict[str, Any] = {"state": None}
    ids = iter(range(1, 10**9))

    # A guest command costs seconds, so the guest is not looked at after every refused
    # call: its state is taken after each success and at the end of each method's run,
    # and must not have moved in between (the refused calls since are named).
    refused_since: list[bytes] = []

    def settle(what: str) -> None:
        after = guest_state(guest_exec)
        before = known["state"]
        if before is not None and refused_since and after != before:
            tally.changed_when_refused += 1
            diff = {k: (before[k][-800:], after[k][-800:]) for k in before if before[k] != after[k]}
            tally.fail(f"{what}: refused calls changed the guest: {diff}", refused_since[:], "")
        known["state"] = after
        refused_since.clear()

    def send(method: dict[str, Any], params: Any) -> None:
        reason = invalid_reason(method, params)
        changing = method.get("x-targetd-changes-storage", True)
        rid = next(ids)
        body = dumps_loose(
            {"jsonrpc": "2.0", "id": rid, "method": method["name"], "params": params}
        )
        status, headers, data = rpc_client.post(body)
        r = Response(status, headers, data)
        tally.requests += 1
        if status != 200 or r.headers["Content-Type"] != "application/json":
            if status >= 500:
                tally.http_5xx += 1
            tally.fail(f"HTTP {status} {r.headers['Content-Type']}", body, data)
            return
        if b"Traceback" in data:
            tally.tracebacks += 1
            tally.fail("traceback in the reply", body, data)
        try:
            reply = strict_json(data)
        except ValueError as exc:
            tally.fail(f"reply is not JSON ({exc})", body, data)
            return
        check_reply_object(tally, body, reply, rid)
        if secret_echoed(params, r.text):
            tally.fail("a CHAP secret came back in the reply", body, reply)
        if "error" not in reply:
            if changing:
                settle(f"before {method['name']} succeeded")  # refused ones up to here
                known["state"] = None
                if isinstance(params, dict):
                    for k in ("name", "vol_new"):
                        if isinstance(params.get(k), str):
                            made.add(params[k])
            if reason:
                tally.fail(f"accepted invalid input ({reason})", body, reply)
            return
        code = reply["error"]["code"]
        if code not in {e["code"] for e in method["errors"]} | PROTOCOL_CODES:
            tally.fail(f"code {code} is not one {method['name']} declares", body, reply)
        if reason and code == -1:
            tally.minus_one_for_invalid += 1
            tally.fail(f"-1 for invalid input ({reason})", body, reply)
        if changing:
            refused_since.append(body)

    def fuzz(method: dict[str, Any]) -> Any:
        total = VALID_EXAMPLES + MUTATED_PER_PARAM * max(1, len(method["params"]))

        @seed(SEED)
        @fixed_settings(total)
        @given(data=st.data(), mutate=st.integers(0, total - 1))
        def run(data: Any, mutate: int) -> None:
            valid: dict[str, Any] = {}
            for p in method["params"]:
                if p["required"] or data.draw(st.booleans()):
                    valid[p["name"]] = data.draw(_strategy(p["name"], p["schema"], base, made))
            params = valid if mutate < VALID_EXAMPLES else data.draw(mutated(method, valid))
            send(method, params)

        return run

    base_params = {
        "pool": THIN,
        "pool_name": THIN,
        "name": base,
        "vol": base,
        "vol_orig": base,
        "vol_name": base,
        "vol_new": f"adv{TAG}new",
        "size": 16 * MiB,
        "initiator_wwn": INITIATORS[0],
        "init_id": INITIATORS[0],
        "lun": 7,
        "h_lun_id": 7,
        "ag_name": f"adv{TAG}g0",
        "init_type": "iscsi",
        "in_user": "user1",
        "in_pass": "password1234",
        "out_user": None,
        "out_pass": None,
    }
    # an ordinary export first: hostile names built on its initiator reach an existing ACL
    rpc("export_create", pool=THIN, vol=base, initiator_wwn=EXPORTED_WWN, lun=3)
    try:
        for method in methods:
            if known["state"] is None:
                known["state"] = guest_state(guest_exec)
            fuzz(method)()
            for params in aimed_cases(method, base_params):
                send(method, params)
            settle(f"after {method['name']}")
    finally:
        _cleanup(rpc, made, groups)
    found = escapes(guest_exec)
    if found:
        tally.fail(f"ESCAPE outside configfs' target tree: {found}", "", "")
    print(f"real-kernel fuzzing: {tally.summary()}")
    tally.check()


# -- the stateful model ----------------------------------------------------------------------

VOLS = [f"adv{TAG}v{i}" for i in range(3)]


class BlockModel(RuleBasedStateMachine):
    rpc: Any
    gx: Any

    def __init__(self) -> None:
        super().__init__()
        self.vols: dict[str, int] = {}  # name -> size
        self.exports: set[tuple[str, str]] = set()  # (vol, initiator)

    def code(self, method: str, **params: Any) -> int | None:
        try:
            type(self).rpc(method, **params)
        except RPCError as e:
            return e.code
        return None

    @staticmethod
    def lun(vol: str) -> int:
        return VOLS.index(vol) + 10

    @rule(name=st.sampled_from(VOLS), size=st.sampled_from([4 * MiB, 8 * MiB]))
    def create(self, name: str, size: int) -> None:
        got = self.code("vol_create", pool=THIN, name=name, size=size)
        if name in self.vols:
            assert got == -50, f"vol_create of existing {name}: {got}"
            return
        assert got is None, f"vol_create {name}: {got}"
        self.vols[name] = size

    @precondition(lambda self: self.vols)
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.vols)))
        got = self.code("vol_destroy", pool=THIN, name=name)
        if any(v == name for v, _ in self.exports):
            assert got == -303, f"vol_destroy of exported {name}: {got}"
            return
        assert got is None, f"vol_destroy {name}: {got}"
        del self.vols[name]

    @precondition(lambda self: self.vols)
    @rule(data=st.data(), dest=st.sampled_from(VOLS))
    def copy(self, data: st.DataObject, dest: str) -> None:
        src = data.draw(st.sampled_from(sorted(self.vols)))
        got = self.code("vol_copy", pool=THIN, vol_orig=src, vol_new=dest)
        if dest in self.vols:
            assert got == -50, f"vol_copy onto existing {dest}: {got}"
            return
        assert got is None, f"vol_copy {src} -> {dest}: {got}"
        self.vols[dest] = self.vols[src]

    @precondition(lambda self: self.vols)
    @rule(data=st.data())
    def grow(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.vols)))
        size = self.vols[name] + 4 * MiB
        assert self.code("vol_resize", pool=THIN, name=name, size=size) is None
        self.vols[name] = size

    @precondition(lambda self: self.vols)
    @rule(data=st.data(), initiator=st.sampled_from(INITIATORS))
    def export(self, data: st.DataObject, initiator: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.vols)))
        got = self.code(
            "export_create", pool=THIN, vol=name, initiator_wwn=initiator, lun=self.lun(name)
        )
        assert got is None, f"export_create {name} -> {initiator}: {got}"
        self.exports.add((name, initiator))

    @precondition(lambda self: self.exports)
    @rule(data=st.data())
    def unexport(self, data: st.DataObject) -> None:
        name, initiator = data.draw(st.sampled_from(sorted(self.exports)))
        got = self.code("export_destroy", pool=THIN, vol=name, initiator_wwn=initiator)
        assert got is None, f"export_destroy {name} -> {initiator}: {got}"
        self.exports.discard((name, initiator))

    @rule(name=st.sampled_from(VOLS), initiator=st.sampled_from(INITIATORS))
    def unexport_unknown(self, name: str, initiator: str) -> None:
        if (name, initiator) in self.exports:
            return
        got = self.code("export_destroy", pool=THIN, vol=name, initiator_wwn=initiator)
        assert got in (-151, -103), f"export_destroy of no export {name}: {got}"

    @invariant()
    def api_kernel_and_model_agree(self) -> None:
        rpc = type(self).rpc
        listed = {v["name"]: v["size"] for v in rpc("vol_list", pool=THIN) if v["name"] in VOLS}
        assert listed == self.vols, (listed, self.vols)
        exports = {
            (e["vol_name"], e["initiator_wwn"]): e["lun"]
            for e in rpc("export_list")
            if e["initiator_wwn"] in INITIATORS
        }
        assert set(exports) == self.exports, (exports, self.exports)
        assert all(lun == self.lun(v) for (v, _), lun in exports.items()), exports
        state = guest_state(type(self).gx)
        lvs = {n for vg, n in _lv_names(state) if vg == "vg-targetd" and n in VOLS}
        assert lvs == set(self.vols), (lvs, self.vols)
        mapped = {
            ln.split("/acls/", 1)[1]
            for ln in state["configfs"].splitlines()
            if "/acls/" in ln and any(f"/acls/{i}/lun_" in ln for i in INITIATORS)
        }
        mapped_luns = {m.split("/")[0] + "/" + m.split("/")[1] for m in mapped}
        expected = {f"{i}/lun_{self.lun(v)}" for v, i in self.exports}
        assert mapped_luns == expected, (sorted(mapped_luns), sorted(expected))

    def teardown(self) -> None:
        _cleanup(type(self).rpc, set(VOLS), set())


@pytest.fixture()
def block_model(rpc, guest_exec):
    BlockModel.rpc = staticmethod(rpc)
    BlockModel.gx = staticmethod(guest_exec)
    yield BlockModel
    _cleanup(rpc, set(VOLS), set())


def test_lvm_volumes_and_lio_exports_model(block_model):
    print(f"real-kernel model {seed_note()}")
    run_state_machine_as_test(
        seed(SEED)(block_model), settings=fixed_settings(2, stateful_steps=8), _min_steps=4
    )
