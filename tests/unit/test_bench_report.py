"""The cost section of make bench's printed report (bench/report.py): what it prints comes from the model."""

from __future__ import annotations

from bench import capacity, report, targets


def test_the_cost_section_prints_the_table_the_crossover_and_the_sizing_of_both_modes() -> None:
    cost = capacity.cost_report(sigma=0.3, base_overhead_ms=10.0, measured_in="test")
    text = report.render({"cost": cost}, [])
    assert "6. Cost per million starts" in text
    for row in cost["table"]:
        assert f"{row['classic']['x86_64']['total']:.2f}" in text
        assert f"{row['durable']['arm64']['total']:.2f}" in text
    crossover = cost["crossover_median_s"]["x86_64"]
    assert crossover is not None
    assert f"x86_64 {crossover:.1f} s" in text
    at_1000 = next(row for row in cost["sizing"] if row["arrival_per_s"] == 1000 and row["median_s"] == 10)
    assert f"{at_1000['classic']['concurrency']} (over 1,000)" in text


def test_a_missing_crossover_is_said_so() -> None:
    cost = capacity.cost_report(sigma=0.3, base_overhead_ms=10.0, measured_in="test")
    cost["crossover_median_s"] = {"x86_64": None, "arm64": None}
    assert "x86_64 none below 25 s" in report.render({"cost": cost}, [])


def test_the_durable_section_prints_each_cell_beside_its_load() -> None:
    durable = {
        "load_average_at_start": [1.0, 2.0, 3.0],
        "load_average_at_end": [4.0, 5.0, 6.0],
        "wake": {
            "cells": {
                "uniform": {
                    "durable": {
                        "wake_p50_ms": 63.0,
                        "wake_p90_ms": 95.5,
                        "wake_p99_ms": 108.4,
                        "waits": 10,
                        "answered_200": 7,
                        "cpu_ms_per_start": 212.5,
                        "load_average": [7.1, 7.2, 5.3],
                    },
                }
            },
            "invocations": {
                "durable": {
                    "first_invocation_p50_ms": 380.1,
                    "resume_invocation_p50_ms": 47.0,
                    "checkpoint_bytes_per_start": 2326,
                }
            },
        },
        "throughput": {
            "durable": {
                "parameters": {"StartConcurrency": "40", "StartThrottleRate": "20"},
                "starts": 20,
                "answers": {"200": 20},
                "share_200": 1.0,
                "cpu_ms_per_start": 230.0,
            }
        },
        "fleet": {
            "100": {
                "answers": {"200": 100},
                "all_suspended": True,
                "arrival": {
                    "seconds": 2.1,
                    "suspended": 100,
                    "peak_running_start_invocations": 6,
                    "peak_running_start_connections": 6,
                },
                "while_waiting": {
                    "seconds": 5.0,
                    "running_start_invocations": 0,
                    "running_start_connections": 0,
                    "statements_per_wait": 0.0,
                    "start_environments": 10,
                    "start_environment_connections": 10,
                    "database_connections": 20,
                    "load_average": [8.0, 7.0, 6.0],
                },
            }
        },
    }
    text = report.render({"durable": durable}, [])
    assert "uniform   durable  63.0    95.5    108.4   7/10  212.5             7.1/7.2/5.3" in text
    assert "load average 1.0/2.0/3.0 at the start, 4.0/5.0/6.0 at the end" in text
    assert "resumed p50 47.0 ms" in text
    assert "checkpoint bytes sent per start 2326" in text
    assert "throughput, durable: 20 starts (StartConcurrency 40, StartThrottleRate 20), answers 200 x20" in text
    assert "230.0 ms of CPU per start" in text
    assert (
        "fleet of 100 durable waiters, all suspended (100), over 5.00 s: 0 running start invocations, 0 database "
        "connections serving a start, 0.00 statements per wait; 10 idle start environments holding 10 of the 20 "
        "Waitroom connections (load 8.0/7.0/6.0)"
    ) in text
    assert "arrival over 2.10 s: at most 6 running start invocations and 6 connections serving them" in text


def test_the_durable_start_s_import_is_judged_against_its_target() -> None:
    results = {"cold_start": {"start_import_ms_by_wait_mode": {"classic": 210.0, "durable": 320.5}}}
    verdicts = targets.verdicts(results)
    text = report.render(results, verdicts)
    assert "classic 210.0 ms, durable 320.5 ms MISSED" in text
    assert "MISSED start_import_ms_by_wait_mode.durable: 320.5" in text
    results["cold_start"]["start_import_ms_by_wait_mode"]["durable"] = 299.0
    assert "durable 299.0 ms met" in report.render(results, targets.verdicts(results))
