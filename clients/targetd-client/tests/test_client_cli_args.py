"""Argument parsing and the request each command sends (a recording stand-in for the
transport: this checks the command line -> JSON-RPC mapping, not targetd)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from targetd_client import cli
from targetd_client.cli import EXIT_OK, EXIT_SERVER, EXIT_USAGE, build_parser, main

FS = {
    "name": "fs1",
    "uuid": "fs-uuid-1",
    "total_space": 2**30,
    "free_space": 2**29,
    "pool": "/mnt/btrfs",
    "full_path": "/mnt/btrfs/targetd_fs/fs1",
}
SNAP = {"name": "s1", "uuid": "ss-uuid-1", "timestamp": 1700000000}


class Recorder:
    """Stands in for Transport.post: records requests, answers from ``answers``."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, body: bytes) -> tuple[int, bytes]:
        req = json.loads(body)
        self.sent.append((req["method"], req.get("params", {})))
        default = [] if req["method"].endswith("list") else None
        answer = self.answers.get(req["method"], default)
        if isinstance(answer, Exception):
            err = {"code": answer.args[0], "message": answer.args[1]}
            return 200, json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": err}).encode()
        return 200, json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": answer}).encode()


@pytest.fixture()
def rec(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    r = Recorder({"fs_list": [FS], "ss_list": [SNAP], "nfs_export_add": {"host": "h", "path": "p"}})
    monkeypatch.setattr("targetd_client.transport.Transport.post", lambda self, body: r(body))
    monkeypatch.setenv("TARGETD_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("TARGETD_PASSWORD", "pw")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    monkeypatch.delenv("TARGETD_CLI_CONFIG", raising=False)
    return r


@pytest.mark.parametrize(
    ("argv", "method", "params"),
    [
        (["pool", "list"], "pool_list", {}),
        (["vol", "list", "vg"], "vol_list", {"pool": "vg"}),
        (["vol", "create", "vg", "v", "10G"], "vol_create", {"pool": "vg", "name": "v", "size": 10 * 2**30}),
        (["vol", "destroy", "vg", "v"], "vol_destroy", {"pool": "vg", "name": "v"}),
        (["vol", "copy", "vg", "a", "b"], "vol_copy", {"pool": "vg", "vol_orig": "a", "vol_new": "b"}),
        (["vol", "copy", "vg", "a", "b", "--size", "2G"], "vol_copy",
         {"pool": "vg", "vol_orig": "a", "vol_new": "b", "size": 2 * 2**30}),
        (["vol", "resize", "vg", "v", "1.5T"], "vol_resize", {"pool": "vg", "name": "v", "size": 3 * 2**39}),
        (["export", "list"], "export_list", {}),
        (["export", "create", "vg", "v", "iqn.x", "3"], "export_create",
         {"pool": "vg", "vol": "v", "initiator_wwn": "iqn.x", "lun": 3}),
        (["export", "destroy", "vg", "v", "iqn.x"], "export_destroy",
         {"pool": "vg", "vol": "v", "initiator_wwn": "iqn.x"}),
        (["initiator", "list"], "initiator_list", {}),
        (["initiator", "list", "--standalone"], "initiator_list", {"standalone_only": True}),
        (["initiator", "auth", "iqn.x"], "initiator_set_auth",
         {"initiator_wwn": "iqn.x", "in_user": None, "in_pass": None, "out_user": None, "out_pass": None}),
        (["ag", "list"], "access_group_list", {}),
        (["ag", "create", "g", "iqn.x"], "access_group_create",
         {"ag_name": "g", "init_id": "iqn.x", "init_type": "iscsi"}),
        (["ag", "destroy", "g"], "access_group_destroy", {"ag_name": "g"}),
        (["ag", "add", "g", "iqn.x"], "access_group_init_add",
         {"ag_name": "g", "init_id": "iqn.x", "init_type": "iscsi"}),
        (["ag", "del", "g", "iqn.x"], "access_group_init_del",
         {"ag_name": "g", "init_id": "iqn.x", "init_type": "iscsi"}),
        (["ag", "map", "vg", "v", "g"], "access_group_map_create",
         {"pool_name": "vg", "vol_name": "v", "ag_name": "g"}),
        (["ag", "map", "vg", "v", "g", "--lun", "7"], "access_group_map_create",
         {"pool_name": "vg", "vol_name": "v", "ag_name": "g", "h_lun_id": 7}),
        (["ag", "unmap", "vg", "v", "g"], "access_group_map_destroy",
         {"pool_name": "vg", "vol_name": "v", "ag_name": "g"}),
        (["ag", "maps"], "access_group_map_list", {}),
        (["fs", "list"], "fs_list", {}),
        (["fs", "create", "/mnt/btrfs", "f"], "fs_create",
         {"pool_name": "/mnt/btrfs", "name": "f", "size_bytes": 0}),
        (["fs", "create", "/mnt/btrfs", "f", "1G"], "fs_create",
         {"pool_name": "/mnt/btrfs", "name": "f", "size_bytes": 2**30}),
        (["fs", "destroy", "fs1"], "fs_destroy", {"uuid": "fs-uuid-1"}),
        (["fs", "destroy", "/mnt/btrfs:fs1"], "fs_destroy", {"uuid": "fs-uuid-1"}),
        (["fs", "destroy", "/mnt/btrfs/targetd_fs/fs1"], "fs_destroy", {"uuid": "fs-uuid-1"}),
        (["fs", "destroy", "fs-uuid-1"], "fs_destroy", {"uuid": "fs-uuid-1"}),
        (["fs", "clone", "fs1", "c"], "fs_clone", {"fs_uuid": "fs-uuid-1", "dest_fs_name": "c"}),
        (["fs", "clone", "fs1", "c", "--snapshot", "s1"], "fs_clone",
         {"fs_uuid": "fs-uuid-1", "dest_fs_name": "c", "snapshot_id": "ss-uuid-1"}),
        (["snap", "list", "fs1"], "ss_list", {"fs_uuid": "fs-uuid-1"}),
        (["snap", "create", "fs1", "s2"], "fs_snapshot", {"fs_uuid": "fs-uuid-1", "dest_ss_name": "s2"}),
        (["snap", "delete", "fs1", "s1"], "fs_snapshot_delete", {"fs_uuid": "fs-uuid-1", "ss_uuid": "ss-uuid-1"}),
        (["snap", "delete", "fs1", "ss-uuid-1"], "fs_snapshot_delete",
         {"fs_uuid": "fs-uuid-1", "ss_uuid": "ss-uuid-1"}),
        (["nfs", "list"], "nfs_export_list", {}),
        (["nfs", "add", "*", "/p"], "nfs_export_add", {"host": "*", "path": "/p", "options": []}),
        (["nfs", "add", "h", "/p", "-o", "rw,no_root_squash", "-o", "sec=sys", "--chown", "1:2"],
         "nfs_export_add",
         {"host": "h", "path": "/p", "options": ["rw", "no_root_squash", "sec=sys"], "chown": "1:2"}),
        (["nfs", "remove", "h", "/p"], "nfs_export_remove", {"host": "h", "path": "/p"}),
        (["nfs", "auth"], "nfs_export_auth_list", {}),
        (["call", "vol_list", '{"pool": "x"}'], "vol_list", {"pool": "x"}),
        (["call", "pool_list"], "pool_list", {}),
        (["discover"], "rpc.discover", {}),
    ],
)  # fmt: skip
def test_command_sends(rec: Recorder, argv: list[str], method: str, params: dict[str, Any]) -> None:
    assert main(argv) == EXIT_OK
    assert rec.sent[-1] == (method, params)


def test_chap_secrets_come_from_files(rec: Recorder, tmp_path: Any) -> None:
    (tmp_path / "in").write_text("insecret\n")
    (tmp_path / "out").write_text("outsecret\n")
    argv = ["initiator", "auth", "iqn.x", "--in-user", "u1", "--in-pass-file", str(tmp_path / "in"),
            "--out-user", "u2", "--out-pass-file", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == EXIT_OK
    assert rec.sent[-1][1] == {
        "initiator_wwn": "iqn.x",
        "in_user": "u1",
        "in_pass": "insecret",
        "out_user": "u2",
        "out_pass": "outsecret",
    }


def test_chap_user_without_secret_is_a_usage_error(rec: Recorder, capsys: Any) -> None:
    assert main(["initiator", "auth", "iqn.x", "--in-user", "u1"]) == EXIT_USAGE
    assert "--in-pass-file" in capsys.readouterr().err
    assert rec.sent == []


def test_unknown_fs_or_snapshot_is_a_usage_error(rec: Recorder, capsys: Any) -> None:
    assert main(["fs", "destroy", "nope"]) == EXIT_USAGE
    assert "no file system 'nope'" in capsys.readouterr().err
    assert main(["snap", "delete", "fs1", "nope"]) == EXIT_USAGE
    assert [m for m, _ in rec.sent] == ["fs_list", "fs_list", "ss_list"]


def test_ambiguous_fs_name(rec: Recorder, capsys: Any) -> None:
    rec.answers["fs_list"] = [FS, {**FS, "pool": "/zfs", "uuid": "other", "full_path": "/zfs/fs1"}]
    assert main(["fs", "destroy", "fs1"]) == EXIT_USAGE
    assert "ambiguous" in capsys.readouterr().err
    assert main(["fs", "destroy", "/zfs:fs1"]) == EXIT_OK
    assert rec.sent[-1] == ("fs_destroy", {"uuid": "other"})


def test_json_before_or_after_the_command(rec: Recorder, capsys: Any) -> None:
    rec.answers["vol_list"] = [{"name": "v", "size": 1024, "uuid": "u"}]
    for argv in (["--json", "vol", "list", "p"], ["vol", "list", "p", "--json"]):
        assert main(argv) == EXIT_OK
        assert json.loads(capsys.readouterr().out) == rec.answers["vol_list"]
    assert main(["vol", "list", "p"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == ["NAME  SIZE  UUID", "v       1K  u"]
    assert main(["vol", "list", "p", "--bytes"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[1] == "v     1024  u"


def test_human_tables(rec: Recorder, capsys: Any) -> None:
    rec.answers["pool_list"] = [
        {"name": "vg-targetd/thin_pool", "size": 20 * 2**30, "free_size": 15 * 2**30,
         "type": "block", "uuid": "pu"},
        {"name": "/mnt/btrfs", "size": 10 * 2**30, "free_size": 10 * 2**30, "type": "fs"},
    ]  # fmt: skip
    assert main(["pool", "list"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "NAME                  TYPE   SIZE  FREE  USED  UUID",
        "vg-targetd/thin_pool  block   20G   15G   25%  pu",
        "/mnt/btrfs            fs      10G   10G    0%",
    ]
    assert main(["snap", "list", "fs1"]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "CREATED", "UUID"] and out[1].split()[0] == "s1"
    assert main(["nfs", "add", "h", "/p"]) == EXIT_OK
    assert capsys.readouterr().out == "exported p to h\n"


def test_server_error_is_printed_with_code(rec: Recorder, capsys: Any) -> None:
    rec.answers["vol_destroy"] = Exception(-303, "volume 'v' is exported")
    assert main(["vol", "destroy", "vg", "v"]) == EXIT_SERVER
    assert capsys.readouterr().err == (
        "targetd-cli: error -303 (VOLUME_MASKED): volume 'v' is exported\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["vol"],
        ["vol", "create", "p", "n"],
        ["vol", "create", "p", "n", "10Q"],
        ["export", "create", "p", "v", "iqn", "256"],
        ["export", "create", "p", "v", "iqn", "x"],
        ["pool", "list", "extra"],
        ["--password", "x", "pool", "list"],  # never from argv
        ["--timeout", "0", "pool", "list"],
        ["--timeout", "soon", "pool", "list"],
    ],
)
def test_usage_errors(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == EXIT_USAGE


def test_exit_codes_are_distinct() -> None:
    codes = [cli.EXIT_OK, cli.EXIT_SERVER, cli.EXIT_USAGE, cli.EXIT_TRANSPORT, cli.EXIT_AUTH]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    ("url", "warn"),
    [
        ("http://127.0.0.1:18700/targetrpc", False),
        ("http://[::1]:18700/targetrpc", False),
        ("http://localhost:18700/targetrpc", False),
        ("http://array:18700/targetrpc", True),
        ("http://10.0.0.5:18700/targetrpc", True),
        ("https://array:18700/targetrpc", False),
    ],
)
def test_cleartext_warning(url: str, warn: bool) -> None:
    assert cli.cleartext_to_remote(url) is warn


def test_cleartext_warning_printed(rec: Recorder, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("TARGETD_URL", "http://array.example")
    assert main(["pool", "list"]) == EXIT_OK
    assert "unencrypted" in capsys.readouterr().err
