#!/usr/bin/env python
r"""Run a trained GAFF detector over frames.

    python tools/predict.py --config-file configs/quick/gaff_s23.yaml \
        --weights output/quick/gaff_s23/checkpoints/best_model.pth \
        --input path/to/frames/ --output output/predictions
    python tools/predict.py --config-file ... --weights ... --dataset gaff_demo_test --output ...

--input takes .npy frames (files or folders); --dataset any dataset registered by the
config (DATASETS.GAFF: .npy + YOLO, paired visible/infrared folders, multi-modal COCO) or
the demo set. Writes detections.json (COCO results) and PNGs of RGB | thermal | event
(when the frame has event data) with the boxes and their scores.
"""

from __future__ import annotations

import argparse
import sys

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
from detectron2.data import DatasetCatalog

from projects_gaff.data import EventSynthesis
from projects_gaff.engine import GAFFPredictor, setup_cfg
from projects_gaff.engine.prediction import npy_records, predict_frames


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument(
        "--weights", required=True, help="a checkpoint, e.g. checkpoints/best_model.pth"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", nargs="+", help=".npy frames or folders of them")
    source.add_argument("--dataset", help="a registered dataset name")
    parser.add_argument("--output", required=True, help="folder for detections.json and PNGs")
    parser.add_argument(
        "--score-threshold", type=float, default=0.5, help="boxes drawn in the PNGs"
    )
    parser.add_argument("--max-pngs", type=int, default=50)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = setup_cfg(args.config_file, [*args.opts, "MODEL.WEIGHTS", args.weights], resolve=False)
    records = DatasetCatalog.get(args.dataset) if args.dataset else npy_records(args.input)
    events = EventSynthesis.from_config(cfg)
    predictor = GAFFPredictor(cfg)
    detections = predict_frames(
        predictor, records, args.output, events, args.score_threshold, args.max_pngs
    )
    print(f"{len(detections)} detections on {len(records)} frames -> {args.output}/detections.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
