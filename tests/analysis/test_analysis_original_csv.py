"""The analysis on the earlier implementation's summary CSV.

``fixtures/original_summary.csv`` has that runner's exact columns and its numbers (the
README's "Analysis" quotes their 2.1-point spread): its phase 1 (COCO mAP / mAP50, 0–1
scale, one seed) and its best phase-2 run, s4 r8 is0 mb0 at .838.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from projects_gaff.analysis import analyse, load_results, write_report
from projects_gaff.study.plan import GaffConfig

# matplotlib's font-config parser calls pyparsing names that pyparsing 3.3 deprecated

ORIGINAL = Path(__file__).parent / "fixtures" / "original_summary.csv"


@pytest.mark.slow
def test_original_csv_is_read_converted_and_judged(tmp_path):
    study = load_results(ORIGINAL)
    assert study.splits == ("test",) and study.selection_split == "test"
    assert study.phase2_stage_sets == ("s4",) and len(study.grid) == 9
    s4 = study.grid[GaffConfig((4,))].first
    assert s4.metric("test") == pytest.approx(83.4) and s4.metric("test", "AP50") == 98.2
    assert s4.metric("test", "AP75") is None
    assert "APs converted from the CSV's 0–1 scale to Detectron2's 0–100 scale" in study.notes
    assert study.missing == tuple(
        f"s4_{code}: no row" for code in ("r4_is0_mb1", "r4_is1_mb0", "r4_is1_mb1",
                                          "r8_is0_mb1", "r8_is1_mb0", "r8_is1_mb1")
    )  # fmt: skip

    a = analyse(study)
    assert not a.noise.known
    order = [a.config(r.key).gaff.stage_label for r in a.phase1_ranking]
    assert order == ["s4", "s3", "s234", "s1", "s34", "s23", "s2", "s1234"]  # ties: CSV order
    assert a.best.key == "s4_r8_is0_mb0"
    verdicts = {f.hypothesis.code: f.verdict for f in a.findings}
    assert verdicts == {"H1": "undecided", "H2": "not testable", "H3": "not testable",
                        "H4": "not testable"}  # fmt: skip
    h1 = a.findings[0].effect
    assert h1.estimate.value == pytest.approx(-0.4) and h1.estimate.se is None

    text = write_report(a, tmp_path).read_text()
    assert (
        "**undecided**: r4 − r8 = -0.40 AP; seed noise unknown, below the earlier one-seed "
        'study\'s 2.1-point spread (README.md, "Analysis")' in text
    )
    assert "| [2, 3] s23 | 1 | 82.20 | 97.40 | — |" in text
    assert "the earlier implementation's whole one-seed spread, 81.7–83.8 AP" in text
    assert not (tmp_path / "curves_phase1.png").exists()  # no per-epoch metrics in a CSV


def test_aliases_failed_rows_and_the_0_100_scale(tmp_path):
    csv = tmp_path / "summary_all_experiments.csv"
    csv.write_text(
        "code,Status,mAP,mAP@50,time_hours,total_params_M\n"
        "s3_r4_is0_mb0,finished,83.2,98.2,3.9,69.5\n"
        "s23_r4_is0_mb0,FAILED,,,,\n"
        "s9_r4_is0_mb0,SUCCESS,80.0,,,\n"
    )
    study = load_results(tmp_path)  # a folder holding the CSV is read as that CSV
    run = study.grid[GaffConfig((3,))].first
    assert run.metric("test") == 83.2  # already 0–100: not scaled
    assert run.training_hours == 3.9 and run.parameters == {"total": 69_500_000}
    assert "s23_r4_is0_mb0: FAILED" in study.missing
    assert "s9_r4_is0_mb0: not a configuration of the study's grid, skipped" in study.missing
    assert "s1_r4_is0_mb0: no row" in study.missing
