"""What the figures leave out and how they name things (issue 17, items 12 and 13)."""

from __future__ import annotations

import pytest
from test_analysis_fixture_study import P1, write_run

from projects_gaff.analysis import analyse, load_results, write_report
from projects_gaff.analysis.plots import (
    SIZE_KEYS,
    metric_label,
    panels,
    plot_curves_phase1,
    plot_phase1_cost,
)
from projects_gaff.study.plan import phase1_plan


def test_size_panels_without_data_are_not_drawn(tmp_path):
    for e in phase1_plan()[:3]:
        write_run(tmp_path / "study" / P1 / e.name, 80.0)  # APl is null in every run
    a = analyse(load_results(tmp_path / "study"))
    fig = panels(a, SIZE_KEYS, lambda key: f"{SIZE_KEYS[key]} objects ({metric_label(key)})")
    assert [ax.get_title() for ax in fig.axes] == [
        "small objects (AP small)", "medium objects (AP medium)",
    ]  # fmt: skip
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "test AP small (0–100)",
        "test AP medium (0–100)",
    ]
    assert metric_label("APl") == "AP large"
    assert panels(a, ("APl",), str) is None


@pytest.mark.slow
def test_one_epoch_curves_are_skipped_and_the_report_says_why(tmp_path):
    base = tmp_path / "study"
    for e in phase1_plan()[:2]:
        write_run(base / P1 / e.name, 80.0)
        csv = base / P1 / e.name / "metrics_per_epoch.csv"
        csv.write_text("\n".join(csv.read_text().splitlines()[:2]) + "\n")  # epoch 1 only
    a = analyse(load_results(base))
    assert plot_curves_phase1(a) is None
    text = write_report(a, tmp_path / "out").read_text()
    assert (
        "*Phase 1: training loss, val AP, val − train loss: not drawn (every finished run "
        "logged one epoch; a curve needs two).*"
    ) in text
    assert not (tmp_path / "out" / "curves_phase1.png").exists()


def test_the_cost_figure_says_its_unit(tmp_path):
    for e in phase1_plan()[:2]:
        write_run(tmp_path / "study" / P1 / e.name, 80.0)
    fig = plot_phase1_cost(analyse(load_results(tmp_path / "study")))
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["test AP (0–100)"] * 2
