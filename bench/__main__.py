"""``python -m bench`` (``make bench``): every benchmark in one run, a table on stdout, the figures in
``bench-results.json``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from bench import (
    arrival,
    capacity,
    cold_start,
    durable,
    end_to_end,
    fleet,
    machine,
    plots,
    report,
    schedule_model,
    services,
    targets,
    wake_latency,
)
from bench.workloads import LOGNORMAL_SIGMA
from devstack.template import ROOT
from waitroom.settings import Settings

SECTIONS = ("cold", "wake", "fleet", "e2e", "arrival", "durable", "cost")


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    # A stopped run still stops what it started (the fleet's private PostgreSQL cluster, its processes).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sections = set(arguments.sections or SECTIONS)
    # Progress goes to a copy of stderr: the local stack's run sends fds 1 and 2 to its log.
    console = os.fdopen(os.dup(2), "w", buffering=1)
    progress = _progress(console)
    began = time.monotonic()
    with _product_defaults(progress):
        postgres, redis = services.postgres_version(), services.redis_version()
        for name, version, url in (("PostgreSQL", postgres, services.PG_URL), ("Redis", redis, services.REDIS_URL)):
            if version is None:
                progress(f"{name} is not reachable at {url}: its cells are skipped")
        wake_config = wake_latency.Config(waits=arguments.waits, threads=arguments.threads)
        e2e_config = end_to_end.Config(
            sequence=arguments.sequence, clients=arguments.clients, seconds=arguments.seconds
        )
        arrival_config = arrival.Config(
            workers=tuple(arrival.Config.workers if arguments.workers is None else arguments.workers),
            sweep_bounds=tuple(arguments.sweep_bounds),
            sweep_rate=arguments.sweep_rate,
            rates=tuple(arguments.rates or arrival.Config.rates),
            seconds=arguments.rate_seconds,
        )
        cold_config = cold_start.Config()
        model_config = schedule_model.Config()
        durable_config = durable.Config(
            waits=arguments.durable_waits,
            rate_seconds=arguments.durable_rate_seconds,
            fleet_sizes=tuple(arguments.durable_fleet_sizes),
        )
        fleet_config = fleet.Config(sizes=tuple(arguments.fleet_sizes), window_s=arguments.fleet_window)
        results: dict[str, Any] = {
            "machine": machine.describe(postgres_version=postgres, redis_version=redis),
            "config": {
                "wake": asdict(wake_config),
                "schedule_model": asdict(model_config),
                "e2e": asdict(e2e_config),
                "arrival": asdict(arrival_config),
                "cold_start": asdict(cold_config),
                "fleet": asdict(fleet_config),
                "durable": asdict(durable_config),
            },
        }
        # Cold start first: import times are the figures most disturbed by anything else running.
        if "cold" in sections:
            results["cold_start"] = cold_start.run(cold_config, progress=progress)
        if "wake" in sections:
            results["wake"] = wake_latency.run(
                wake_config, postgres=postgres is not None, redis=redis is not None, progress=progress
            )
            results["schedule_model"] = schedule_model.run(model_config)
        if "fleet" in sections:
            results["fleet"] = fleet.run(fleet_config, redis_available=redis is not None, progress=progress)
            results["fleet"]["load_average_after"] = machine.load_average()
        if "e2e" in sections:
            results["e2e"] = end_to_end.run(e2e_config, redis=redis is not None, progress=progress)
        if "arrival" in sections:
            results["arrival"] = arrival.run(arrival_config, progress=progress)
            if arrival_config.sweep_bounds:
                results["arrival_sweep"] = arrival.run_sweep(arrival_config, progress=progress)
        if "durable" in sections:
            results["durable"] = durable.run(durable_config, redis=redis is not None, progress=progress)
    if "cost" in sections:
        results["cost"] = _cost(results)
    results["machine"]["load_average_at_end"] = machine.load_average()
    results["code"] = machine.code_version(ROOT)
    verdicts = targets.verdicts(results)
    results["targets"] = [verdict.as_dict() for verdict in verdicts]
    results["duration_s"] = round(time.monotonic() - began)
    Path(arguments.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report.render(results, verdicts))
    pictures = plots.draw(results, arguments.pictures) if arguments.pictures else []
    print(f"\n{', '.join(map(str, [arguments.output, *pictures]))} written; the run took {results['duration_s']} s.")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        help="run only these (default: all; cold, wake, fleet, e2e, arrival, durable, cost)",
    )
    parser.add_argument("--waits", type=int, default=wake_latency.Config.waits, help="waits per wake cell")
    parser.add_argument("--threads", type=int, default=wake_latency.Config.threads, help="waits in flight at once")
    parser.add_argument("--sequence", type=int, default=end_to_end.Config.sequence, help="sequential starts")
    parser.add_argument("--clients", type=int, default=end_to_end.Config.clients, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=end_to_end.Config.seconds, help="length of the load")
    parser.add_argument(
        "--fleet-sizes", nargs="+", type=int, default=list(fleet.Config.sizes), help="environments per fleet cell"
    )
    parser.add_argument(
        "--fleet-window", type=float, default=fleet.Config.window_s, help="measured seconds per fleet cell"
    )
    parser.add_argument(
        "--rates", nargs="+", type=float, help=f"arrival rates, processes/s (default: {arrival.Config.rates})"
    )
    parser.add_argument(
        "--workers",
        nargs="*",
        choices=list(arrival.WORKER_VARIANTS),
        help=f"worker configurations of the arrival rates (default: {', '.join(arrival.Config.workers)})",
    )
    parser.add_argument(
        "--sweep-bounds",
        nargs="*",
        type=int,
        default=list(arrival.Config.sweep_bounds),
        help="worker bounds of the throughput sweep (none: no sweep)",
    )
    parser.add_argument(
        "--sweep-rate", type=float, default=arrival.Config.sweep_rate, help="starts per second of the sweep"
    )
    parser.add_argument(
        "--rate-seconds", type=float, default=arrival.Config.seconds, help="length of each arrival rate's load"
    )
    parser.add_argument("--durable-waits", type=int, default=durable.Config.waits, help="starts per durable wake cell")
    parser.add_argument(
        "--durable-rate-seconds",
        type=float,
        default=durable.Config.rate_seconds,
        help="length of the durable throughput cell's arrivals",
    )
    parser.add_argument(
        "--durable-fleet-sizes",
        nargs="+",
        type=int,
        default=list(durable.Config.fleet_sizes),
        help="durable waiters per fleet cell",
    )
    parser.add_argument("--output", default="bench-results.json", help="where the JSON goes")
    parser.add_argument(
        "--pictures",
        type=Path,
        nargs="?",
        default=plots.IMAGES,
        const=None,
        help="where the pictures go (default docs/img; with no value, none are drawn)",
    )
    return parser


def _cost(results: dict[str, Any]) -> dict[str, Any]:
    """The two wait modes' cost and sizing, from the capacity model, with the time a classic start
    takes beyond its process as this run's fleet measured it, or as the recorded run did."""
    sizing = (results.get("fleet") or {}).get("sizing") or {}
    if "base_overhead_ms" in sizing:
        overhead, measured_in = sizing["base_overhead_ms"], f"this run's fleet, {sizing['measured_in']}"
    else:
        overhead = capacity.RECORDED_BASE_OVERHEAD_MS
        measured_in = "the fleet of 2026-11-29, postgresql/redis/100 (docs/CAPACITY.md)"
    return capacity.cost_report(sigma=LOGNORMAL_SIGMA, base_overhead_ms=overhead, measured_in=measured_in)


def _progress(console: TextIO) -> Callable[[str], None]:
    began = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - began:5.0f} s] {message}", file=console)

    return say


@contextmanager
def _product_defaults(progress: Callable[[str], None]) -> Iterator[None]:
    """Every Waitroom and local-stack setting at its default: a variable left in the shell (a
    POLL_SCHEDULE, a DATABASE_URL) would silently change what is measured."""
    names = {name.upper() for name in Settings.model_fields} | {
        name for name in os.environ if name.startswith("LOCAL_")
    }
    removed = {name: os.environ.pop(name) for name in sorted(names) if name in os.environ}
    if removed:
        progress(f"ignoring {', '.join(removed)} from the environment: the benchmark measures the defaults")
    try:
        yield
    finally:
        os.environ.update(removed)


if __name__ == "__main__":
    sys.exit(main())
