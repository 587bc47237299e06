"""Detectron2 ``DatasetEvaluator`` for the log-average miss rate (MR⁻²) of pedestrians."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode
from detectron2.utils import comm

from ..atomic import atomic_write_json, atomic_write_text
from ..run_files import MISS_RATE_METRICS, MISS_RATE_RESULTS
from .miss_rate import SUBSETS, FrameTruth, evaluate_miss_rate, summarize
from .result_files import format_results

PERSON = "person"
logger = logging.getLogger(__name__)


def person_class(dataset_name: str) -> int:
    classes = list(MetadataCatalog.get(dataset_name).get("thing_classes", []))
    if PERSON in classes:
        return classes.index(PERSON)
    if len(classes) == 1:
        return 0
    raise ValueError(
        f"{dataset_name}: the miss rate scores one class, 'person', but the classes are "
        f"{classes}. Fix: name the pedestrian class 'person' in DATASETS.GAFF.CLASSES, or "
        "leave 'miss_rate' out of TEST.EVALUATORS"
    )


def ground_truth(
    records: Sequence[dict[str, Any]], category: int = 0, dataset: str = "dataset"
) -> tuple[list[FrameTruth], dict[str, np.ndarray]]:
    """Per-frame ground truth and all / day / night masks. Annotations without the KAIST
    ``height`` / ``occlusion`` / ``ignore`` get the box height, no occlusion and ``iscrowd``;
    frames without ``daytime`` count in "all" only."""
    truths, derived = [], 0
    for record in records:
        boxes, heights, occlusion, ignore = [], [], [], []
        for ann in record.get("annotations", []):
            if ann.get("category_id", 0) != category:
                continue  # another class: not a pedestrian, neither counted nor ignored
            x0, y0, x1, y1 = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS)
            derived += not all(key in ann for key in ("height", "occlusion", "ignore"))
            boxes.append([x0, y0, x1 - x0, y1 - y0])
            heights.append(ann.get("height", y1 - y0))
            occlusion.append(ann.get("occlusion", 0))
            ignore.append(bool(ann.get("ignore", ann.get("iscrowd", 0))))
        truths.append(
            FrameTruth(
                np.asarray(boxes, float).reshape(-1, 4),
                np.asarray(heights, float),
                np.asarray(occlusion, int),
                np.asarray(ignore, bool),
                int(record["width"]),
                int(record["height"]),
            )
        )
    if derived:
        logger.info(
            "%s: %d boxes lack height / occlusion / ignore; derived them (height from the box, "
            "occlusion none, ignored when iscrowd)",
            dataset,
            derived,
        )
    daytime = np.array([r.get("daytime", r.get("subset")) for r in records], dtype=object)
    subsets = {"all": np.ones(len(records), bool)}
    subsets.update({name: daytime == name for name in SUBSETS[1:]})
    if len(records) and not (subsets["day"] | subsets["night"]).any():
        logger.info("%s: no frame has a 'daytime' (day / night); those metrics are None", dataset)
    return truths, subsets


def instances_to_detections(instances, category: int) -> np.ndarray:
    keep = instances.pred_classes == category
    boxes = instances.pred_boxes.tensor[keep].numpy()
    boxes[:, 2:] -= boxes[:, :2]
    return np.concatenate([boxes, instances.scores[keep].numpy()[:, None]], axis=1)


class MissRateEvaluator(DatasetEvaluator):
    """``{"miss_rate": summarize(...)}``; with an ``output_dir`` also the metrics and the
    detections as a benchmark result file, for ``tools/plot_miss_rate.py``."""

    def __init__(self, dataset_name: str, output_dir: str | None = None, distributed: bool = True):
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.distributed = distributed
        self.category = person_class(dataset_name)
        self._detections: dict[Any, np.ndarray] = {}

    def reset(self) -> None:
        self._detections = {}

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for item, output in zip(inputs, outputs, strict=True):
            instances = output["instances"].to("cpu")
            self._detections[item["image_id"]] = instances_to_detections(instances, self.category)

    def evaluate(self) -> dict[str, dict[str, float | None]] | None:
        detections = self._detections
        if self.distributed:
            comm.synchronize()
            gathered = comm.gather(detections, dst=0)
            if not comm.is_main_process():
                return None
            detections = {k: v for part in gathered for k, v in part.items()}
        everything = DatasetCatalog.get(self.dataset_name)
        records = [r for r in everything if r["image_id"] in detections]
        if len(records) < len(everything):
            logger.warning(
                "%s: %d of %d frames were not run through the model; the miss rate covers "
                "the %d that were",
                self.dataset_name,
                len(everything) - len(records),
                len(everything),
                len(records),
            )
        truths, subsets = ground_truth(records, self.category, self.dataset_name)
        per_frame = [detections[r["image_id"]] for r in records]
        metrics = summarize(evaluate_miss_rate(truths, per_frame, subsets))
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            atomic_write_json(os.path.join(self.output_dir, MISS_RATE_METRICS), metrics)
            atomic_write_text(
                os.path.join(self.output_dir, MISS_RATE_RESULTS), format_results(per_frame)
            )
        logger.info("%s miss rate: %s", self.dataset_name, json.dumps(metrics))
        return {"miss_rate": metrics}
