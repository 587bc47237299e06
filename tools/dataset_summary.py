r"""Summarise registered datasets before a study: frames per split, boxes per class, COCO
small/medium/large counts, frame sizes, and per-channel mean/std for MODEL.PIXEL_MEAN/STD.

    python tools/dataset_summary.py                                   # the demo set
    python tools/dataset_summary.py --config-file my.yaml             # DATASETS.GAFF of a config
    python tools/dataset_summary.py DATASETS.GAFF.NAME mine DATASETS.GAFF.IMAGES data/images \\
        DATASETS.GAFF.LABELS data/labels                              # or keys on the command line
"""

import argparse
import json

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog

from projects_gaff.config import add_gaff_config
from projects_gaff.data import (
    DEMO_NAME,
    SPLITS,
    EventSynthesis,
    channel_statistics,
    format_summary,
    register_datasets_from_config,
    summarize_dataset,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", default="", help="a study config (optional)")
    parser.add_argument(
        "--datasets",
        default="",
        help="comma-separated registered names (default: the config's splits, else the demo's)",
    )
    parser.add_argument(
        "--stats-frames", type=int, default=200, help="frames read for mean/std (0: skip)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config KEY VALUE pairs")
    args = parser.parse_args()

    cfg = get_cfg()
    add_gaff_config(cfg)
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    register_datasets_from_config(cfg)
    prefix = cfg.DATASETS.GAFF.NAME or DEMO_NAME
    names = args.datasets.split(",") if args.datasets else [f"{prefix}_{split}" for split in SPLITS]

    summaries = [summarize_dataset(name) for name in names]
    result = {"datasets": summaries}
    if args.stats_frames:
        events = EventSynthesis.from_config(cfg)
        result["channel_statistics"] = {
            "dataset": names[0],
            **channel_statistics(DatasetCatalog.get(names[0]), args.stats_frames, events),
        }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(format_summary(summaries))
    if args.stats_frames:
        stats = result["channel_statistics"]
        print(f"\nChannel statistics of {stats['dataset']} (R, G, B, thermal, event; 0-255 scale):")
        print(f"  MODEL.PIXEL_MEAN: {stats['mean']}\n  MODEL.PIXEL_STD: {stats['std']}")


if __name__ == "__main__":
    main()
