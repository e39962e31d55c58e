"""The durable wait mode's targets, read from the bench's results (bench/targets.py)."""

from __future__ import annotations

import math
from typing import Any

from bench import targets


def _durable(*, p99: float, share_200: float, running: int, all_suspended: bool = True) -> dict[str, Any]:
    return {
        "durable": {
            "wake": {"cells": {"lognormal": {"durable": {"wake_p99_ms": p99}, "redis": {"wake_p99_ms": 5.0}}}},
            "throughput": {"durable": {"share_200": share_200}, "classic": {"share_200": 0.2}},
            "fleet": {
                "100": {
                    "all_suspended": all_suspended,
                    "while_waiting": {"running_start_invocations": running, "running_start_connections": 0},
                }
            },
        }
    }


def _by_figure(results: dict[str, Any]) -> dict[str, targets.Verdict]:
    return {".".join(verdict.path): verdict for verdict in targets.verdicts(results)}


def test_the_durable_targets_are_met_by_a_fast_wake_full_throughput_and_nothing_held() -> None:
    found = _by_figure(_durable(p99=80.0, share_200=0.995, running=0))
    assert set(found) == {
        "durable.wake.cells.lognormal.durable.wake_p99_ms",
        "durable.throughput.durable.share_200",
        "durable.fleet.100.while_waiting.running_start_invocations",
        "durable.fleet.100.while_waiting.running_start_connections",
    }
    assert all(verdict.met for verdict in found.values())


def test_the_durable_targets_are_missed_by_a_slow_wake_lost_starts_and_a_running_invocation() -> None:
    found = _by_figure(_durable(p99=120.0, share_200=0.98, running=1))
    assert not found["durable.wake.cells.lognormal.durable.wake_p99_ms"].met
    assert not found["durable.throughput.durable.share_200"].met
    assert not found["durable.fleet.100.while_waiting.running_start_invocations"].met
    assert found["durable.fleet.100.while_waiting.running_start_connections"].met


def test_a_fleet_whose_starts_did_not_all_suspend_does_not_meet_what_a_waiting_start_holds() -> None:
    found = _by_figure(_durable(p99=80.0, share_200=1.0, running=0, all_suspended=False))
    verdict = found["durable.fleet.100.while_waiting.running_start_invocations"]
    assert verdict.measured == math.inf
    assert not verdict.met
