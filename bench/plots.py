"""The pictures of docs/CAPACITY.md and docs/PERFORMANCE.md, drawn from a run's results.

``make bench`` draws them at the end of a run; ``python -m bench.plots bench-results.json`` draws them
again from a saved run. Each picture is drawn only when the results hold what it shows: the cost
picture from the run's cost model (``results["cost"]``), the wake-latency picture from the wake
section's per-wait latencies (``results["wake"]``), with one line per strategy the run measured,
whichever they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

# No display here or in CI: the Agg backend renders to files only, and must be chosen before pyplot loads.
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from devstack.template import ROOT

IMAGES = ROOT / "docs" / "img"
COST_PNG = "cost-per-million.png"
WAKE_PNG = "wake-latency.png"
WAKE_HTTP_PNG = "wake-latency-http.png"
#: One colour per wait strategy, the same in every panel; a strategy not named here takes the next free one.
STRATEGY_COLOURS = {
    "seed": "tab:gray",
    "adaptive": "tab:olive",
    "inprocess": "tab:purple",
    "redis": "tab:red",
    "postgres": "tab:blue",
    "durable": "tab:green",
    "durable-sdk-100ms": "tab:cyan",
    "poll": "tab:olive",
}
SPARE_COLOURS = ("tab:orange", "tab:brown", "tab:pink")
#: The wake picture's left edge, in ms: every panel on the same scale.
FLOOR_MS = 0.1


def draw(results: Mapping[str, Any], directory: Path = IMAGES) -> list[Path]:
    """Every picture the results hold; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if results.get("cost"):
        written.append(draw_cost(results["cost"], directory / COST_PNG))
    if _has_samples(results.get("wake") or {}):
        written.append(draw_wake(results["wake"], directory / WAKE_PNG, machine=results.get("machine") or {}))
    http = http_panels(results)
    if _has_samples(http):
        written.append(draw_wake(http, directory / WAKE_HTTP_PNG, machine=results.get("machine") or {}))
    return written


def draw_cost(cost: Mapping[str, Any], path: Path) -> Path:
    """USD per million starts against the process's median duration, both modes, both architectures,
    with the table's medians marked and the crossover drawn."""
    curve = cost["curve"]
    medians = [point["median_s"] for point in curve]
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    for mode, colour in (("classic", "tab:red"), ("durable", "tab:green")):
        for architecture, style in (("x86_64", "-"), ("arm64", "--")):
            axes.plot(
                medians,
                [point[mode][architecture]["total"] for point in curve],
                style,
                color=colour,
                linewidth=2 if architecture == "x86_64" else 1.3,
                label=f"{mode}, {architecture}",
            )
        axes.scatter(
            [row["median_s"] for row in cost["table"]],
            [row[mode]["x86_64"]["total"] for row in cost["table"]],
            color=colour,
            zorder=3,
        )
    # Durable labels above their line, classic ones below their points: they meet near the crossover.
    offsets = {"classic": (6, -13), "durable": (4, 6)}
    for row in cost["table"]:
        for mode in ("classic", "durable"):
            value = row[mode]["x86_64"]["total"]
            axes.annotate(
                f"${value:.0f}", (row["median_s"], value), textcoords="offset points", xytext=offsets[mode], fontsize=8
            )
    crossover = (cost.get("crossover_median_s") or {}).get("x86_64")
    if crossover is not None:
        axes.axvline(crossover, color="black", linestyle=":", linewidth=1)
        axes.annotate(f"crossover (x86_64)\n{crossover:.1f} s", (crossover, axes.get_ylim()[1] * 0.85),
                      xytext=(6, 0), textcoords="offset points", fontsize=9)  # fmt: skip
    axes.set_xscale("log")
    axes.set_xticks([0.1, 0.5, 1, 2, 5, 10, 25])
    axes.get_xaxis().set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g} s"))
    axes.set_xlabel(f"process duration, median (log-normal, sigma {cost['sigma']})")
    axes.set_ylabel("USD per million starts")
    axes.set_title("Cost per million starts: classic (waits in Lambda) and durable (suspended)", fontsize=11)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", fontsize=9)
    figure.text(
        0.01,
        0.01,
        "Lambda duration and requests, HTTP API requests, durable operations; durable data written and retained "
        "not priced. Prices and assumptions: docs/CAPACITY.md",
        fontsize=7,
        color="dimgray",
    )
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path)
    plt.close(figure)
    return path


#: The panels of the durable section's cells (bench.durable), measured through the local stack over HTTP.
HTTP_PANEL = "local stack over HTTP, finish committed to the HTTP answer"


def http_panels(results: Mapping[str, Any]) -> dict[str, Any]:
    """The durable section's wake cells (each mode a strategy), a picture of their own: measured end
    to end over HTTP, they are not comparable with the wake section's ``wait()`` figures."""
    cells = ((results.get("durable") or {}).get("wake") or {}).get("cells")
    return {HTTP_PANEL: cells} if cells else {}


def draw_wake(wake: Mapping[str, Any], path: Path, *, machine: Mapping[str, Any]) -> Path:
    """The distribution of the wake latency of each wait strategy: one panel per backend and workload,
    one cumulative line per strategy, on a log scale (push and polling differ by two orders)."""
    panels = [
        (backend, workload, cells)
        for backend, workloads in wake.items()
        for workload, cells in workloads.items()
        if any(cell.get("wake_ms") for cell in cells.values())
    ]
    columns = min(2, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure, grid = plt.subplots(rows, columns, figsize=(8.5 * columns, 4.2 * rows), dpi=110, squeeze=False)
    colours = _colours([strategy for _, _, cells in panels for strategy in cells])
    slowest = max(max(cell.get("wake_ms") or [FLOOR_MS]) for _, _, cells in panels for cell in cells.values())
    for axes, (backend, workload, cells) in zip(grid.flat, panels, strict=False):
        for strategy, cell in cells.items():
            samples = sorted(cell.get("wake_ms") or [])
            if not samples:
                continue
            # A log axis needs values above 0: a poll can see a finish a few microseconds after its commit.
            shown = [max(value, FLOOR_MS) for value in samples]
            share = [(index + 1) / len(shown) for index in range(len(shown))]
            axes.step(shown, share, where="post", color=colours[strategy], linewidth=1.8,
                      label=f"{strategy} (p99 {cell.get('wake_p99_ms')} ms)")  # fmt: skip
        axes.axhline(0.99, color="black", linestyle=":", linewidth=0.8)
        axes.set_xscale("log")
        axes.set_xlim(FLOOR_MS * 0.8, slowest * 1.3)
        axes.get_xaxis().set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        answered = "the HTTP answer" if backend == HTTP_PANEL else "wait() returned"
        axes.set_xlabel(f"wake latency, ms (finish committed to {answered}; under {FLOOR_MS} ms at {FLOOR_MS})")
        axes.set_ylabel("share of waits")
        axes.set_ylim(0, 1.02)
        axes.set_title(f"{backend}, {workload}", fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    for axes in list(grid.flat)[len(panels) :]:
        axes.set_visible(False)
    loads = machine.get("load_average_at_start")
    figure.suptitle(
        "Wake latency by wait strategy (cumulative; dotted line: p99)"
        + (f"; load average at the start {loads[0]:.1f}" if loads else ""),
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _has_samples(wake: Mapping[str, Any]) -> bool:
    return any(cell.get("wake_ms") for workloads in wake.values() for cells in workloads.values()
               for cell in cells.values())  # fmt: skip


def _colours(strategies: Sequence[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    spare = iter(SPARE_COLOURS * (1 + len(strategies)))
    for strategy in strategies:
        if strategy not in colours:
            colours[strategy] = STRATEGY_COLOURS.get(strategy) or next(spare)
    return colours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plots", description=__doc__)
    parser.add_argument("results", nargs="?", default="bench-results.json", help="a saved run of make bench")
    parser.add_argument("--into", type=Path, default=IMAGES, help="where the pictures go (default docs/img)")
    arguments = parser.parse_args(argv)
    results = json.loads(Path(arguments.results).read_text(encoding="utf-8"))
    written = draw(results, arguments.into)
    for path in written:
        print(f"{path} written")
    if not written:
        print(f"{arguments.results} holds no cost model and no per-wait wake latencies: nothing to draw")
    return 0


if __name__ == "__main__":
    sys.exit(main())
