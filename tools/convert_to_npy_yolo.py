"""Convert a paired-folder (layout 2) or multi-modal COCO (layout 3) dataset into the study's
layout 1: ``OUT/images/<key>.npy`` (H, W, 5) uint8 + ``OUT/labels/<key>.txt`` YOLO.

    python tools/convert_to_npy_yolo.py --root ../LLVIP --out datasets/llvip --max-size 640
    python tools/convert_to_npy_yolo.py --layout coco --annotations data/rgbte.json --out datasets/x

A missing event channel is synthesised (see datasets/README.md). Then train with
DATASETS.GAFF.IMAGES OUT/images and DATASETS.GAFF.LABELS OUT/labels.
"""

import argparse

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
from projects_gaff.data import (
    EventSynthesis,
    convert_to_npy_yolo,
    load_coco_multimodal,
    load_paired,
)
from projects_gaff.data.events import EVENT_MODES, EVENT_SOURCES


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layout", choices=("paired", "coco"), default="paired")
    parser.add_argument(
        "--root",
        default="",
        help="paired: dataset folder; coco: image root (default: the json's folder)",
    )
    parser.add_argument(
        "--annotations",
        default="Annotations",
        help="paired: VOC folder or COCO json under ROOT; coco: the json",
    )
    parser.add_argument("--rgb-dir", default="visible")
    parser.add_argument("--thermal-dir", default="infrared")
    parser.add_argument("--event-dir", default="event")
    parser.add_argument("--classes", nargs="+", default=["person"], help="class names, in id order")
    parser.add_argument(
        "--not-sequential", action="store_true", help="frames are not a video: zero events"
    )
    parser.add_argument("--event-source", choices=EVENT_SOURCES, default="rgb")
    parser.add_argument("--event-threshold", type=float, default=0.2)
    parser.add_argument("--event-mode", choices=EVENT_MODES, default="count")
    parser.add_argument(
        "--max-size", type=int, default=0, help="shrink frames whose longer side exceeds this"
    )
    parser.add_argument(
        "--skip-bad-samples", action="store_true", help="log and leave out bad samples"
    )
    parser.add_argument("--out", required=True, help="output folder (gets images/ and labels/)")
    args = parser.parse_args()

    sequential = not args.not_sequential
    if args.layout == "paired":
        records = load_paired(
            args.root,
            args.classes,
            args.rgb_dir,
            args.thermal_dir,
            args.event_dir,
            args.annotations,
            sequential,
            args.skip_bad_samples,
        )
        source = args.root
    else:
        records = load_coco_multimodal(
            args.annotations, args.classes, args.root or None, sequential, args.skip_bad_samples
        )
        source = args.annotations
    events = EventSynthesis(args.event_source, args.event_threshold, args.event_mode)
    written = convert_to_npy_yolo(
        records, args.out, events, args.max_size, args.skip_bad_samples, source=source
    )
    print(f"Wrote {written} frames to {args.out}/images and {args.out}/labels")


if __name__ == "__main__":
    main()
