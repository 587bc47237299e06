"""Acceptance: the published MR⁻² of two methods from the benchmark's own files, and the
command-line tools on them (``../shared/data/kaist_eval``, or ``$GAFF_SHARED_DATA/kaist_eval``
for a checkout elsewhere; skipped where it is absent)."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from projects_gaff.data.kaist import kaist_json_records
from projects_gaff.evaluation import evaluate_miss_rate, summarize
from projects_gaff.evaluation.evaluator import ground_truth
from projects_gaff.evaluation.result_files import read_results

REPO = Path(__file__).resolve().parents[2]
KAIST_EVAL = (
    Path(os.environ.get("GAFF_SHARED_DATA", REPO.parent / "shared" / "data")) / "kaist_eval"
)
ANNOTATIONS = KAIST_EVAL / "KAIST_annotation.json"
PUBLISHED = {  # reasonable all / day / night, kaist_eval/README.md
    "MBNet": (8.13, 8.28, 7.86),
    "MSDS-RCNN": (11.34, 10.54, 12.94),
}
pytestmark = pytest.mark.skipif(
    not ANNOTATIONS.is_file(), reason=f"the KAIST reference data is not at {KAIST_EVAL}"
)


def tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def benchmark():
    records = kaist_json_records(ANNOTATIONS)
    truths, subsets = ground_truth(records)
    return records, truths, subsets


def test_test_set_frames_and_day_night(benchmark):
    records, truths, subsets = benchmark
    assert len(records) == 2252 and sum(len(t.boxes) for t in truths) == 4254
    assert subsets["day"].sum() == 1455 and subsets["night"].sum() == 797
    assert np.flatnonzero(subsets["night"])[0] == 1455


@pytest.mark.parametrize("method", sorted(PUBLISHED))
def test_published_miss_rates_are_reproduced_in_under_ten_seconds(benchmark, method):
    records, truths, subsets = benchmark
    detections = read_results(KAIST_EVAL / f"{method}_result.txt", len(records))
    start = time.process_time()  # CPU time of this process: one core
    metrics = summarize(evaluate_miss_rate(truths, detections, subsets))
    seconds = time.process_time() - start
    got = [metrics[f"MR_reasonable_{s}"] for s in ("all", "day", "night")]
    assert got == pytest.approx(PUBLISHED[method], abs=0.01), got
    assert seconds < 10, f"all settings took {seconds:.1f} s"
    assert 0 < metrics["MR_all_all"] < 100 and 0 < metrics["recall_reasonable_all"] <= 100


def test_eval_miss_rate_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "mr.json"
    results = [str(KAIST_EVAL / f"{m}_result.txt") for m in sorted(PUBLISHED)]
    code = tool("eval_miss_rate").main(
        ["--annotations", str(ANNOTATIONS), "--results", *results, "--json", str(out)]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "| method | reasonable_all | reasonable_day | reasonable_night | all_all |"
    )
    assert lines[2].startswith("| MBNet_result | 8.13 | 8.28 | 7.86 |")
    assert lines[3].startswith("| MSDS-RCNN_result | 11.34 | 10.54 | 12.94 |")
    scores = json.loads(out.read_text())
    assert set(scores) == {"MBNet_result", "MSDS-RCNN_result"}
    assert scores["MBNet_result"]["MR_reasonable_night"] == pytest.approx(7.86, abs=0.005)


def test_eval_miss_rate_reports_a_bad_result_line(tmp_path, capsys):
    bad = tmp_path / "C_result.txt"
    bad.write_text("1,2,3,4,5,0.5\n2253,2,3,4,5,0.5\n")
    code = tool("eval_miss_rate").main(["--annotations", str(ANNOTATIONS), "--results", str(bad)])
    assert code == 2
    assert "C_result.txt:2: has image index 2253, outside 1-2252" in capsys.readouterr().err


@pytest.mark.slow
def test_plot_miss_rate_draws_all_day_night(tmp_path):
    out = tmp_path / "fig" / "mr.png"
    results = [str(KAIST_EVAL / f"{m}_result.txt") for m in sorted(PUBLISHED)]
    code = tool("plot_miss_rate").main(
        ["--annotations", str(ANNOTATIONS), "--results", *results, "--output", str(out)]
    )
    assert code == 0
    import matplotlib.image

    image = matplotlib.image.imread(out)
    assert image.shape[1] > 2.5 * image.shape[0]  # three panels side by side
    assert image.std() > 0.05  # something was drawn
