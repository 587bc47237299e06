"""tools/export_detections.py: a trained run's detections as COCO json and as a KAIST
result file that the miss-rate tools read."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import QUICK
from detectron2.data import DatasetCatalog

from projects_gaff.evaluation.result_files import read_results

REPO = Path(__file__).resolve().parents[2]


def export_tool():
    spec = importlib.util.spec_from_file_location(
        "export_detections", REPO / "tools" / "export_detections.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_per_frame_groups_by_dataset_position_and_keeps_the_person_class():
    records = [{"image_id": 7}, {"image_id": 3}]
    detections = [
        {"image_id": 3, "category_id": 0, "bbox": [1, 2, 3, 4], "score": 0.5},
        {"image_id": 3, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
        {"image_id": 7, "category_id": 0, "bbox": [5, 6, 7, 8], "score": 0.25},
    ]
    frames = export_tool().per_frame(detections, records, category=0)
    assert [f.tolist() for f in frames] == [[[5, 6, 7, 8, 0.25]], [[1, 2, 3, 4, 0.5]]]


@pytest.mark.slow  # builds and runs a detector (about a minute on a busy 2-core machine)
def test_export_writes_coco_json_and_a_result_file_the_tools_read(tiny_dataset, tmp_path, capsys):
    # An untrained mit_b0 detector (no weights file) that keeps every score: what matters
    # here is the plumbing from predictor to files, not the boxes.
    argv = ["--config-file", QUICK, "--weights", "", "--dataset", "tiny_test"]
    options = [*tiny_dataset, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
    assert export_tool().main([*argv, "--output", str(tmp_path), "--name", "run", *options]) == 0
    assert "run_result.txt" in capsys.readouterr().out
    coco = json.loads((tmp_path / "detections.json").read_text())
    records = DatasetCatalog.get("tiny_test")
    frames = read_results(tmp_path / "run_result.txt", len(records))
    assert sum(len(f) for f in frames) == len(coco) > 0
    position = {r["image_id"]: i for i, r in enumerate(records)}
    best = max(coco, key=lambda d: d["score"])
    row = frames[position[best["image_id"]]][0]  # highest score of its frame comes first
    np.testing.assert_allclose(row, [*best["bbox"], best["score"]], atol=1e-4)
