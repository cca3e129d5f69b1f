"""The rule that decides when a process may rescue other processes' jobs."""

from __future__ import annotations

import pytest

from bgjobs.runtime.rescue_gate import RescueGate


def beating(gate: RescueGate, start: float, end: float, every: float) -> None:
    at = start
    while at <= end:
        gate.beat(at)
        at += every


def test_a_fresh_process_waits_a_full_lease_before_its_first_rescue() -> None:
    gate = RescueGate(every=1, lease=5, started_at=100)
    beating(gate, 100, 104, 1)
    assert not gate.may_rescue(104.9)
    gate.beat(105)
    assert gate.may_rescue(105)


def test_a_failed_database_call_starts_the_lease_over() -> None:
    gate = RescueGate(every=1, lease=5, started_at=0)
    beating(gate, 0, 10, 1)
    assert gate.may_rescue(10)
    gate.trouble(10.5)  # e.g. the heartbeat was refused while the server was down
    beating(gate, 11, 15, 1)
    assert not gate.may_rescue(15)
    gate.beat(15.5)
    assert gate.may_rescue(15.5)


def test_an_outage_spent_inside_the_heartbeat_counts_as_trouble() -> None:
    """The heartbeat call itself waited out a 10 s outage: no error, only a long gap."""
    gate = RescueGate(every=1, lease=5, started_at=0)
    beating(gate, 0, 10, 1)
    gate.beat(21)  # 11 s after the last beat
    assert not gate.may_rescue(21)
    assert not gate.may_rescue(25.9)
    beating(gate, 22, 26, 1)
    assert gate.may_rescue(26)


def test_a_gap_within_interval_plus_half_a_lease_is_normal_jitter() -> None:
    gate = RescueGate(every=1, lease=6, started_at=0)
    beating(gate, 0, 10, 1)
    gate.beat(13.9)  # 3.9 s: below every + lease / 2 = 4 s
    assert gate.may_rescue(13.9)


def test_the_lease_must_be_longer_than_the_interval() -> None:
    with pytest.raises(ValueError, match="every < lease"):
        RescueGate(every=5, lease=5, started_at=0)
