#!/usr/bin/env python
r"""Save a trained model's fusion attention for one frame as PNGs.

    python tools/visualize_attention.py --config-file configs/quick/gaff_s23.yaml \
        --weights output/quick/gaff_s23/checkpoints/best_model.pth \
        --frame path/to/frame.npy --output output/attention
    python tools/visualize_attention.py --config-file ... --weights ... \
        --dataset gaff_demo_test --index 3 --output ...

``--frame`` is an (H, W, 5) .npy frame (R, G, B, thermal, event); ``--dataset`` any dataset
the config registers, ``--index`` its record. Writes into ``--output``:
``channel_weights.png`` (SE or ECA weights, one bar chart per modality and fused stage),
``attention_stage{s}.png`` (inter-modality gates, fusion gate or CSSA spatial map, mean
over channels, over the RGB and the thermal image) and ``attention.npz`` (every captured
map, keys ``stage{s}/{name}``, at the stage's resolution).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.data import transforms as T

from projects_gaff.data import CHANNELS, EventSynthesis, read_frame
from projects_gaff.engine import GAFFPredictor, setup_cfg
from projects_gaff.fusion import capture_attention
from projects_gaff.visualization.attention_plots import (
    attention_overlay_figures,
    channel_weights_figure,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True, help="a checkpoint, e.g. best_model.pth")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--frame", help="an (H, W, 5) .npy frame")
    source.add_argument("--dataset", help="a registered dataset name")
    parser.add_argument("--index", type=int, default=0, help="record of --dataset")
    parser.add_argument("--output", required=True, help="folder for the PNGs and attention.npz")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    return parser.parse_args(argv)


def load_frame(args: argparse.Namespace, cfg) -> np.ndarray:
    if args.frame:
        frame = np.load(args.frame, allow_pickle=False)
    else:
        records = DatasetCatalog.get(args.dataset)
        if not 0 <= args.index < len(records):
            raise IndexError(f"--index {args.index}: {args.dataset} has {len(records)} records")
        frame = read_frame(records[args.index], EventSynthesis.from_config(cfg))
    if frame.ndim != 3 or frame.shape[2] != len(CHANNELS):
        raise ValueError(f"frame of shape {frame.shape}: expected (H, W, 5), {list(CHANNELS)}")
    return frame


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = [] if torch.cuda.is_available() else ["MODEL.DEVICE", "cpu"]
    # One frame: compiling would cost minutes and gain nothing (and the capture hooks
    # would be traced into the graph).
    opts = [*device, *args.opts, "MODEL.WEIGHTS", args.weights, "MODEL.COMPILE.ENABLED", "False"]
    cfg = setup_cfg(args.config_file, opts, resolve=False)
    frame = load_frame(args, cfg)
    predictor = GAFFPredictor(cfg)
    with capture_attention(predictor.model) as maps:
        predictor(frame)
    if not maps:
        raise SystemExit(f"error: {args.config_file} fuses no stage; there is no attention")
    resized = T.AugInput(frame.astype(np.float32))
    predictor.aug(resized)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    written = attention_overlay_figures(maps, frame, resized.image.shape[:2], output)
    bars = channel_weights_figure(
        maps, output / "channel_weights.png", threshold=cfg.MODEL.FUSION.CSSA.THRESHOLD
    )
    written += [bars] if bars else []
    arrays = {f"stage{s}/{k}": v.cpu().numpy() for s, e in maps.items() for k, v in e.items()}
    np.savez(output / "attention.npz", **arrays)
    for path in [*written, output / "attention.npz"]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
