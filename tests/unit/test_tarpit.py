"""The login tarpit's slots (targetd_core.auth): exact addresses, bounded, cross-process."""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from targetd_core.auth import Authenticator, tarpit_key
from targetd_core.paths import is_plain_component


@given(st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_ipv4_addresses_never_share_a_slot(a, b) -> None:
    assert (tarpit_key(str(a)) == tarpit_key(str(b))) == (a == b)


@given(st.ip_addresses(v=6), st.ip_addresses(v=6))
def test_ipv6_slots_are_per_64(a, b) -> None:
    same_64 = a.packed[:8] == b.packed[:8]
    if a.ipv4_mapped is None and b.ipv4_mapped is None:
        assert (tarpit_key(str(a)) == tarpit_key(str(b))) == same_64


@given(st.ip_addresses() | st.text())
def test_every_key_is_a_plain_file_name(address) -> None:
    assert is_plain_component(tarpit_key(str(address)))


def test_special_forms() -> None:
    assert tarpit_key("::ffff:192.0.2.1") == tarpit_key("192.0.2.1") == "v4-192.0.2.1"
    assert tarpit_key("fe80::1%eth0") == tarpit_key("fe80::2") == "v6-fe80000000000000"
    assert tarpit_key("2001:db8:0:1::1") != tarpit_key("2001:db8:0:2::1")
    assert tarpit_key("") == tarpit_key("/run/targetd.sock") == "local"
    assert ipaddress.ip_address("2001:db8::") and tarpit_key("2001:db8::1") == "v6-20010db800000000"


def test_slots_are_exclusive_across_authenticators_and_leave_nothing(tmp_path: Path) -> None:
    """Two Authenticators on one directory behave like two gunicorn workers."""
    one = Authenticator("admin", "pw", tmp_path / "t", delay=0.3)
    two = Authenticator("admin", "pw", tmp_path / "t", delay=0.3)
    seen: dict[str, bool] = {}

    def fail(name: str, auth: Authenticator, address: str) -> None:
        with auth.tarpit(address) as delayed:
            seen[name] = delayed

    first = threading.Thread(target=fail, args=("first", one, "192.0.2.1"))
    first.start()
    time.sleep(0.1)
    assert two.being_delayed("192.0.2.1")
    assert not two.being_delayed("192.0.2.2")
    fail("same", two, "192.0.2.1")  # answered at once: the slot is taken
    fail("other", two, "192.0.2.2")  # delayed in its own slot
    first.join()
    assert seen == {"first": True, "same": False, "other": True}
    assert not one.being_delayed("192.0.2.1")
    assert os.listdir(tmp_path / "t") == []


def test_clear_removes_leftover_slots(tmp_path: Path) -> None:
    auth = Authenticator("admin", "pw", tmp_path / "t", delay=0)
    for name in ("v4-192.0.2.1", "ab12"):
        (tmp_path / "t" / name).write_text("")
    assert auth.being_delayed("192.0.2.1") is False  # an unlocked leftover delays nobody
    auth.clear()
    assert os.listdir(tmp_path / "t") == []


def test_no_slot_file_is_looked_for_while_no_delay_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Authenticator("admin", "pw", tmp_path / "t", delay=0)

    def no_open(*args: object, **kwargs: object) -> int:
        raise AssertionError("being_delayed opened a file while no delay ran")

    monkeypatch.setattr(os, "open", no_open)
    assert auth.being_delayed("192.0.2.1") is False


def test_a_delay_in_another_process_is_seen(tmp_path: Path) -> None:
    """The count is shared memory: a worker forked after the master made the
    Authenticator sees the master's (or a sibling's) delay, and the count returns to 0."""
    auth = Authenticator("admin", "pw", tmp_path / "t", delay=0.5)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            with auth.tarpit("192.0.2.7"):
                pass
        finally:
            os._exit(0)
    deadline = time.monotonic() + 5
    while not auth.being_delayed("192.0.2.7") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert auth.being_delayed("192.0.2.7")
    assert not auth.being_delayed("192.0.2.8")
    os.waitpid(pid, 0)
    assert not auth.being_delayed("192.0.2.7") and int(auth._delays) == 0


def test_concurrent_delays_in_many_processes_leave_the_count_at_zero(tmp_path: Path) -> None:
    auth = Authenticator("admin", "pw", tmp_path / "t", delay=0)
    pids = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the children
            try:
                for i in range(200):
                    with auth.tarpit(f"192.0.2.{n * 50 + i % 50}"):
                        pass
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    assert int(auth._delays) == 0


def test_a_count_left_too_high_only_costs_a_look_at_the_slots(tmp_path: Path) -> None:
    """A worker killed during a delay leaves the count above zero: calls then look at the
    slot files (and are not delayed), and the next start-up's clear() zeroes it."""
    auth = Authenticator("admin", "pw", tmp_path / "t", delay=0)
    auth._delays.add(1)  # as a killed worker leaves it
    assert auth.being_delayed("192.0.2.1") is False
    with auth.tarpit("192.0.2.1") as delayed:
        assert delayed
    assert int(auth._delays) == 1
    Authenticator("admin", "pw", tmp_path / "t").clear()  # the next start-up
    assert int(auth._delays) == 0
