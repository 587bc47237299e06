"""A dataset summary to sanity-check data before a 30-run study."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from .events import DEFAULT_EVENTS, EventSynthesis
from .frames import CHANNELS, read_frame

# COCO's area ranges (pixels², in the frame's own resolution).
_SMALL, _MEDIUM = 32**2, 96**2


def summarize_dataset(name: str) -> dict[str, Any]:
    """Frames, negatives, boxes per class, COCO small/medium/large counts, frame sizes."""
    records = DatasetCatalog.get(name)
    classes = MetadataCatalog.get(name).get("thing_classes", [])
    per_class: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for record in records:
        sizes[f"{record['width']}x{record['height']}"] += 1
        for ann in record["annotations"]:
            x0, y0, x1, y1 = BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS)
            area = (x1 - x0) * (y1 - y0)
            areas["small" if area < _SMALL else "medium" if area < _MEDIUM else "large"] += 1
            per_class[classes[ann["category_id"]]] += 1
    return {
        "name": name,
        "frames": len(records),
        "negatives": sum(not record["annotations"] for record in records),
        "boxes": sum(per_class.values()),
        "boxes_per_class": {c: per_class[c] for c in classes},
        "box_sizes": {k: areas[k] for k in ("small", "medium", "large")},
        "frame_sizes": dict(sizes.most_common()),
    }


def format_summary(summaries: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`summarize_dataset` results, one row per dataset."""
    header = [
        "dataset",
        "frames",
        "negatives",
        "boxes",
        "per class",
        "small/medium/large",
        "frame sizes (WxH: frames)",
    ]
    rows = [header]
    for s in summaries:
        sizes = s["frame_sizes"]
        shown = ", ".join(f"{k}: {v}" for k, v in list(sizes.items())[:3])
        if len(sizes) > 3:
            shown += f", +{len(sizes) - 3} more sizes"
        per_class = ", ".join(f"{c}: {n}" for c, n in s["boxes_per_class"].items())
        box_sizes = "/".join(str(v) for v in s["box_sizes"].values())
        counts = [str(s[key]) for key in ("frames", "negatives", "boxes")]
        rows.append([s["name"], *counts, per_class, box_sizes, shown])
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def channel_statistics(
    records: Sequence[dict[str, Any]],
    max_frames: int = 200,
    events: EventSynthesis = DEFAULT_EVENTS,
) -> dict[str, list[float]]:
    """Per-channel mean and std (0-255 scale, R G B thermal event) over evenly spaced frames:
    the values MODEL.PIXEL_MEAN / PIXEL_STD want, computed on the training split."""
    if not records:
        raise ValueError("no records to compute channel statistics from")
    picks = np.linspace(0, len(records) - 1, min(max_frames, len(records))).round().astype(int)
    total = np.zeros(len(CHANNELS))
    total_sq = np.zeros(len(CHANNELS))
    pixels = 0
    for i in np.unique(picks):
        frame = read_frame(records[i], events).reshape(-1, len(CHANNELS)).astype(np.float64)
        total += frame.sum(0)
        total_sq += (frame**2).sum(0)
        pixels += frame.shape[0]
    mean = total / pixels
    std = np.sqrt(np.maximum(total_sq / pixels - mean**2, 0))
    return {"mean": [round(float(v), 3) for v in mean], "std": [round(float(v), 3) for v in std]}
