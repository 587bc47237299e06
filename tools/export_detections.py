#!/usr/bin/env python
r"""Export a trained detector's detections on a test set in the benchmarks' formats.

    python tools/export_detections.py --config-file configs/kaist/gaff_s23.yaml \
        --weights output/kaist/gaff_s23/checkpoints/best_model.pth \
        --dataset kaist_test --output output/kaist/gaff_s23/export

Writes ``detections.json`` (COCO results, every score) and ``<name>_result.txt`` in the
KAIST result format ``image_index,x,y,w,h,score`` (index = the frame's position in the
dataset + 1; for the KAIST layout's test set, the benchmark's image id + 1), which
``tools/eval_miss_rate.py`` and ``tools/plot_miss_rate.py`` read beside published results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
import numpy as np
from detectron2.data import DatasetCatalog

from projects_gaff.atomic import atomic_write_text
from projects_gaff.data import DatasetError, EventSynthesis
from projects_gaff.engine import GAFFPredictor, setup_cfg
from projects_gaff.engine.prediction import predict_frames
from projects_gaff.evaluation.evaluator import person_class
from projects_gaff.evaluation.result_files import format_results


def per_frame(detections: list[dict], records: list[dict], category: int) -> list[np.ndarray]:
    """(M, 5) ``x, y, w, h, score`` per record, in dataset order, of the pedestrian class."""
    position = {record["image_id"]: index for index, record in enumerate(records)}
    rows: list[list[list[float]]] = [[] for _ in records]
    for detection in detections:
        if detection["category_id"] == category:
            rows[position[detection["image_id"]]].append([*detection["bbox"], detection["score"]])
    return [np.asarray(r, float).reshape(-1, 5) for r in rows]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True, help="e.g. checkpoints/best_model.pth")
    parser.add_argument("--dataset", required=True, help="a registered dataset, e.g. kaist_test")
    parser.add_argument("--output", required=True, help="folder for the exported files")
    parser.add_argument("--name", help="result-file name stem (default: the dataset name)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = setup_cfg(
            args.config_file, [*args.opts, "MODEL.WEIGHTS", args.weights], resolve=False
        )
        records = DatasetCatalog.get(args.dataset)
        category = person_class(args.dataset)
        detections = predict_frames(
            GAFFPredictor(cfg),
            records,
            args.output,
            EventSynthesis.from_config(cfg),
            max_pngs=0,
        )
    except (DatasetError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = Path(args.output) / f"{args.name or args.dataset}_result.txt"
    atomic_write_text(result, format_results(per_frame(detections, records, category)))
    print(f"{len(detections)} detections on {len(records)} frames -> {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
