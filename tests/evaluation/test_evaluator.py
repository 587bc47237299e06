"""MissRateEvaluator as Detectron2 runs it: process() per batch, evaluate() once."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from projects_gaff.evaluation import MissRateEvaluator
from projects_gaff.evaluation.result_files import read_results
from projects_gaff.run_files import (
    MISS_RATE_METRICS,
    MISS_RATE_PREFIX,
    MISS_RATE_RESULTS,
    lower_is_better,
)

W, H = 640, 512


def person(x, y, w, h, **fields):
    return {"bbox": [x, y, w, h], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, **fields}


def register(name: str, records: list[dict], classes=("person",)) -> str:
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: records)
    MetadataCatalog.get(name).set(thing_classes=list(classes))
    return name


def output(*boxes: tuple) -> dict:
    """Model output with XYWH + score boxes of class 0."""
    instances = Instances((H, W))
    xyxy = [[x, y, x + w, y + h] for x, y, w, h, _ in boxes]
    instances.pred_boxes = Boxes(torch.tensor(xyxy, dtype=torch.float32).reshape(-1, 4))
    instances.scores = torch.tensor([b[4] for b in boxes], dtype=torch.float32)
    instances.pred_classes = torch.zeros(len(boxes), dtype=torch.int64)
    return {"instances": instances}


def frame(image_id: int, daytime: str | None, *annotations) -> dict:
    record = {"image_id": image_id, "height": H, "width": W, "annotations": list(annotations)}
    if daytime:
        record["daytime"] = daytime
    return record


def run(evaluator: MissRateEvaluator, outputs: dict[int, dict]) -> dict:
    evaluator.reset()
    for image_id, out in outputs.items():
        evaluator.process([{"image_id": image_id}], [out])
    return evaluator.evaluate()


def test_day_and_night_metrics_and_the_files_it_writes(tmp_path):
    fields = {"occlusion": 0, "ignore": 0}
    name = register(
        "mr_test_daynight",
        [
            frame(0, "day", person(100, 100, 40, 100, height=100, **fields)),
            frame(1, "night", person(100, 100, 40, 100, height=100, **fields)),
            frame(2, "night"),
        ],
    )
    evaluator = MissRateEvaluator(name, output_dir=str(tmp_path))
    results = run(
        evaluator,
        {0: output((100, 100, 40, 100, 0.9)), 1: output(), 2: output((10, 10, 40, 100, 0.3))},
    )
    metrics = results["miss_rate"]
    assert metrics["MR_reasonable_day"] == 0.0 and metrics["recall_reasonable_day"] == 100.0
    assert metrics["MR_reasonable_night"] == 100.0 and metrics["recall_reasonable_night"] == 0
    assert metrics["MR_reasonable_all"] == pytest.approx(100 * 0.5)
    assert metrics["MR_far_all"] is None  # nobody of that height: no curve
    assert all(lower_is_better(k) for k in metrics if k.startswith(MISS_RATE_PREFIX))
    assert json.loads((tmp_path / MISS_RATE_METRICS).read_text()) == metrics
    detections = read_results(tmp_path / MISS_RATE_RESULTS, 3)
    assert [len(d) for d in detections] == [1, 0, 1]
    assert detections[0][0].tolist() == pytest.approx([100, 100, 40, 100, 0.9])


def test_annotations_without_protocol_fields_are_derived_and_said_once(caplog):
    name = register(
        "mr_test_voc",
        [
            frame(0, None, person(100, 100, 40, 100), person(300, 100, 40, 50)),
            frame(1, None, {**person(400, 100, 40, 100), "iscrowd": 1}),
        ],
    )
    with caplog.at_level(logging.INFO, logger="projects_gaff.evaluation.evaluator"):
        metrics = run(
            MissRateEvaluator(name),
            {0: output((100, 100, 40, 100, 0.9)), 1: output((400, 100, 40, 100, 0.8))},
        )["miss_rate"]
    derived = [r for r in caplog.records if "derived" in r.getMessage()]
    assert len(derived) == 1 and "3 boxes" in derived[0].getMessage()
    # The 50 px person is outside 'reasonable' (ignored), the crowd box an ignore region
    # that absorbs its detection: one person, found, no false positive.
    assert metrics["MR_reasonable_all"] == 0.0
    assert metrics["MR_all_all"] == pytest.approx(50.0)  # the 50 px person counts there
    assert metrics["MR_reasonable_day"] is None and metrics["MR_reasonable_night"] is None


def test_frames_not_run_are_left_out_with_a_warning(caplog):
    name = register(
        "mr_test_partial", [frame(0, "day", person(100, 100, 40, 100)), frame(1, "day")]
    )
    with caplog.at_level(logging.WARNING):
        metrics = run(MissRateEvaluator(name), {0: output((100, 100, 40, 100, 0.9))})["miss_rate"]
    assert "1 of 2 frames were not run" in caplog.text
    assert metrics["MR_reasonable_all"] == 0.0


def test_datasets_without_a_person_class_are_refused():
    name = register("mr_test_classes", [frame(0, "day")], classes=("car", "bike"))
    with pytest.raises(ValueError, match=r"'person'.*Fix:"):
        MissRateEvaluator(name)
