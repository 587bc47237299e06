"""A study whose runs also report miss rates (``MR_…``, lower is better) and select on one.

Phase 1: stage set ``s<k>`` (k-th of the plan) has test AP 80 + k and val AP 81 + k (s1234
best on AP) but val MR_reasonable_all 10 + 2·|k − 3| (s3 best on MR). Phase 2 on s3:
the cell r8 is1 mb1 has the best *test* AP, r4 is0 mb1 the best *val* MR: the heatmap's box
must follow the selection rule (val, selection metric), never the test values it shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_analysis_fixture_study import P1, P2, write_run

from projects_gaff.analysis import analyse, load_results, write_report
from projects_gaff.analysis.plots import selected_cell
from projects_gaff.study.plan import GaffConfig, phase1_plan

MR = "MR_reasonable_all"


def write_mr_run(folder: Path, test_ap: float, val_ap: float, test_mr: float, val_mr: float):
    """A finished run (as write_run) whose evaluation also gave miss rates."""
    write_run(folder, test_ap, val=val_ap)
    final = json.loads((folder / "final_results.json").read_text())
    final["test"].update({MR: test_mr, "MR_all": test_mr + 20})
    final["val"].update({MR: val_mr, "MR_all": val_mr + 20})
    (folder / "final_results.json").write_text(json.dumps(final))
    lines = (folder / "metrics_per_epoch.csv").read_text().splitlines()
    lines = [lines[0] + f",val_{MR}"] + [f"{line},{val_mr + 3 - e}" for e, line in
                                          enumerate(lines[1:], start=1)]  # fmt: skip
    (folder / "metrics_per_epoch.csv").write_text("\n".join(lines) + "\n")


def mr_of(number: int) -> float:
    """Val MR of phase-1 experiment ``number``: lowest (best) for s3 (exp_003)."""
    return 10.0 + 2 * abs(number - 3)


def make_study(base: Path, select: str | None) -> Path:
    for e in phase1_plan():
        k = e.number
        write_mr_run(base / P1 / e.name, 80 + k, 81 + k, mr_of(k) + 1, mr_of(k))
    # phase 2 on s3: (r, shared, mb) → (test AP, val MR)
    cells = {
        (4, 0, 1): (85.0, 6.0),  # best val MR: the selected cell
        (4, 1, 0): (84.0, 12.0),
        (4, 1, 1): (84.5, 11.0),
        (8, 0, 0): (83.0, 13.0),
        (8, 0, 1): (83.5, 12.5),
        (8, 1, 0): (82.0, 14.0),
        (8, 1, 1): (95.0, 15.0),  # best test AP: must not be boxed
    }
    for number, ((r, shared, mb), (test_ap, mr)) in enumerate(cells.items(), start=9):
        name = f"exp_{number:03d}_s3_r{r}_is{shared}_mb{mb}"
        write_mr_run(base / P2 / name, test_ap, test_ap + 1, mr + 1, mr)
    (base / "phase2_selection.json").write_text(json.dumps({"selection": ["s3"]}))
    opts = ["TEST.SELECT_METRIC", select] if select else []
    (base / "study.json").write_text(json.dumps({"config_file": "gone.yaml", "opts": opts}))
    return base


@pytest.mark.slow
def test_miss_rates_are_loaded_ranked_on_and_reported(tmp_path):
    study = load_results(make_study(tmp_path / "study", MR))
    assert study.select_metric == MR and study.miss_rates == ("MR_all", MR)
    a = analyse(study)
    assert a.lower_is_better
    assert [r.key for r in a.phase1_ranking][:3] == [
        "s3_r4_is0_mb0", "s2_r4_is0_mb0", "s4_r4_is0_mb0",
    ]  # fmt: skip
    assert a.phase1_ranking[1].gap_to_best == pytest.approx(2.0)  # worse by 2 MR points
    assert a.best.key == "s3_r4_is0_mb1"
    h1 = next(f for f in a.findings if f.hypothesis.code == "H1")
    # r4 is lower (better) than r8 in every pair: MR r8 − MR r4 > 0 supports H1
    assert h1.contrast == "MR r8 − MR r4" and h1.effect.agreeing == len(h1.effect.pairs) == 4
    assert h1.hypothesis.predicts(MR) == f"r4 < r8 in {MR}"

    out = tmp_path / "report"
    text = write_report(a, out).read_text()
    assert f"Selection metric (`TEST.SELECT_METRIC`): **{MR}** (lower is better)" in text
    assert f"| mAP | mAP@50 | mAP@75 | MR_all | {MR} | Params (M) |" in text
    assert "| [3] s3 | 1 | 83.00 | 93.00 | 78.00 | 31.00 | 11.00 |" in text
    assert f"| H1 | Lower SE reduction improves accuracy | r4 < r8 in {MR} |" in text
    assert f"Ranking on val {MR}" in text
    assert (out / "phase1_miss_rate.png").read_bytes()[:4] == b"\x89PNG"
    assert "](phase1_miss_rate.png)" in text


@pytest.mark.slow
def test_heatmap_boxes_the_cell_chosen_on_val(tmp_path):
    """Item 12 of issue 17: the box follows the selection rule, not the test values."""
    for select, cell in ((MR, (0, 1)), (None, (1, 3))):
        a = analyse(load_results(make_study(tmp_path / str(select), select)))
        assert selected_cell(a, "s3") == cell, select
    a = analyse(load_results(make_study(tmp_path / "mr-box", MR)))
    text = write_report(a, tmp_path / "out").read_text()
    assert f"the red box marks each set's best cell on val {MR}, the selection rule" in text


@pytest.mark.slow
def test_a_study_without_miss_rates_has_no_miss_rate_columns(tmp_path):
    base = tmp_path / "study"
    for e in phase1_plan()[:2]:
        write_run(base / P1 / e.name, 80.0)
    study = load_results(base)
    assert study.select_metric == "AP" and study.miss_rates == ()
    text = write_report(analyse(study), tmp_path / "out").read_text()
    assert "MR" not in text and "Selection metric" not in text
    assert GaffConfig((1,)) in study.grid
