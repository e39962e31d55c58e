"""The cost section of make bench's printed report (bench/report.py): what it prints comes from the model."""

from __future__ import annotations

from bench import capacity, report


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
