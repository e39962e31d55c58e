"""The pictures make bench draws (bench/plots.py): drawn from whatever a run's results hold."""

from __future__ import annotations

from pathlib import Path

from bench import capacity, plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _wake_cell(samples: list[float]) -> dict[str, object]:
    return {"wake_ms": samples, "wake_p99_ms": max(samples)}


def test_both_pictures_are_drawn_from_the_results(tmp_path: Path) -> None:
    results = {
        "cost": capacity.cost_report(sigma=0.3, base_overhead_ms=10.0, measured_in="test"),
        "wake": {
            "sqlite": {
                # A strategy the module has no colour for is drawn too: the plot takes what the run measured.
                "lognormal": {"redis": _wake_cell([0.4, 0.6, 1.4]), "a-new-one": _wake_cell([0.0, 20.0, 90.0])},
                "uniform": {"seed": _wake_cell([300.0, 600.0, 990.0])},
            }
        },
        "machine": {"load_average_at_start": [0.5, 1.0, 2.0]},
    }
    written = plots.draw(results, tmp_path)
    assert written == [tmp_path / plots.COST_PNG, tmp_path / plots.WAKE_PNG]
    for path in written:
        assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_a_run_without_per_wait_latencies_draws_no_wake_picture(tmp_path: Path) -> None:
    # A wake section saved before the per-wait latencies were kept has only its percentiles.
    results = {"wake": {"sqlite": {"lognormal": {"redis": {"wake_p99_ms": 1.4}}}}}
    assert plots.draw(results, tmp_path) == []
    assert not (tmp_path / plots.WAKE_PNG).exists()


def test_every_strategy_keeps_one_colour_and_unknown_ones_get_distinct_spares() -> None:
    colours = plots._colours(["redis", "x", "redis", "y", "durable"])
    assert colours["redis"] == plots.STRATEGY_COLOURS["redis"]
    assert colours["durable"] == plots.STRATEGY_COLOURS["durable"]
    assert colours["x"] != colours["y"]
    assert {colours["x"], colours["y"]} <= set(plots.SPARE_COLOURS)
