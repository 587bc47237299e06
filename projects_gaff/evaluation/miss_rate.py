"""Log-average miss rate (MR⁻²), the pedestrian-detection protocol, in numpy (torch-free).

The protocol of Dollár et al. (PAMI 2012, "Pedestrian Detection: An Evaluation of the State
of the Art") as the KAIST benchmark (Hwang et al., CVPR 2015) runs it, written out in
``datasets/README.md`` ("Pedestrian benchmarks").

Two details decide the last digit, and follow KAIST's public evaluation (the script of
Kim et al., "MLPD", RA-L 2021) rather than Dollár's MATLAB toolbox: detections are *not*
filtered by height (the toolbox drops those outside the range widened by 1.25; that gives
MBNet 7.94 instead of its published 8.13), and the reference points are rounded to four
decimals (:data:`REFERENCE_FPPI`). A reference point before the first operating point reads
miss rate 1, as in the toolbox (the KAIST script's negative index reads the last point
there; that never happens on the 2,252-frame test set).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..run_files import MISS_RATE_PREFIX

IOU_THRESHOLD = 0.5
MAX_DETECTIONS = 1000  # per frame, highest scores first
BORDER_PX = 5  # ground truth crossing this margin of the image is ignored
# The nine FPPI reference points 10^-2, 10^-1.75, ..., 10^0 as the KAIST evaluation
# writes them, to four decimals. The rounding is part of the protocol: with the exact
# powers MSDS-RCNN's day MR⁻² reads 10.533 instead of its published 10.54.
REFERENCE_FPPI = np.array([0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0])

TRUE_POSITIVE, FALSE_POSITIVE, IGNORED = 1, 0, -1


@dataclass(frozen=True)
class Setting:
    """Which ground truth counts: heights in [min, max] px and these occlusion levels
    (0 none, 1 partial, 2 heavy); everything else is an ignore region."""

    min_height: float
    max_height: float
    occlusion: tuple[int, ...]


INF = math.inf
# The KAIST settings (Hwang et al. 2015, Caltech's conventions for the scale and occlusion
# breakdowns: scales over unoccluded people, occlusion levels over reasonable heights).
SETTINGS: dict[str, Setting] = {
    "reasonable": Setting(55, INF, (0, 1)),
    "all": Setting(20, INF, (0, 1, 2)),
    "near": Setting(115, INF, (0,)),
    "medium": Setting(45, 115, (0,)),
    "far": Setting(0, 45, (0,)),
    "occ_none": Setting(55, INF, (0,)),
    "occ_partial": Setting(55, INF, (1,)),
    "occ_heavy": Setting(55, INF, (2,)),
}


@dataclass
class FrameTruth:
    """One frame's ground truth: ``boxes`` (N, 4) XYWH pixels, ``heights`` (N,) px,
    ``occlusion`` (N,) levels, ``ignore`` (N,) flags, and the image size for the border."""

    boxes: np.ndarray
    heights: np.ndarray
    occlusion: np.ndarray
    ignore: np.ndarray
    width: int
    height: int


@dataclass
class Curve:
    """Miss rate against FPPI from the highest score down; ``log_average`` is MR⁻² (0-1),
    ``recall`` the recall at the last operating point."""

    fppi: np.ndarray
    miss_rate: np.ndarray
    log_average: float
    recall: float
    frames: int
    persons: int


def flatten_truth(truths: Sequence[FrameTruth]) -> dict[str, np.ndarray]:
    count = [len(t.boxes) for t in truths]
    return {
        "boxes": np.concatenate([np.reshape(t.boxes, (-1, 4)) for t in truths]).astype(float),
        "heights": np.concatenate([np.reshape(t.heights, -1) for t in truths]).astype(float),
        "occlusion": np.concatenate([np.reshape(t.occlusion, -1) for t in truths]).astype(int),
        "ignore": np.concatenate([np.reshape(t.ignore, -1) for t in truths]).astype(bool),
        "width": np.repeat([t.width for t in truths], count).astype(float),
        "height": np.repeat([t.height for t in truths], count).astype(float),
    }


def kept_truth(truth: dict[str, np.ndarray], setting: Setting) -> np.ndarray:
    """Mask of the boxes that count; the others become ignore regions."""
    x, y, w, h = truth["boxes"].T
    inside = (
        (x >= BORDER_PX)
        & (y >= BORDER_PX)
        & (x + w <= truth["width"] - BORDER_PX)
        & (y + h <= truth["height"] - BORDER_PX)
    )
    heights = truth["heights"]
    tall = (heights >= setting.min_height) & (heights <= setting.max_height)
    return ~truth["ignore"] & tall & np.isin(truth["occlusion"], setting.occlusion) & inside


def overlaps(detections: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, N) IoU and intersection ÷ detection area of XYWH boxes."""
    d0, g0 = detections[:, None, :2], truth[None, :, :2]
    d1, g1 = d0 + detections[:, None, 2:4], g0 + truth[None, :, 2:4]
    sides = np.clip(np.minimum(d1, g1) - np.maximum(d0, g0), 0, None)
    inter = sides[..., 0] * sides[..., 1]
    det_area = (detections[:, 2] * detections[:, 3])[:, None]
    union = det_area + (truth[:, 2] * truth[:, 3])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
        ioa = np.where(det_area > 0, inter / det_area, 0.0)
    return iou, ioa


@dataclass
class Candidates:
    """Detection / box pairs that overlap enough to match in some setting."""

    det: np.ndarray  # index into the flat, per-frame score-sorted detections
    box: np.ndarray  # index into the flat ground truth
    iou: np.ndarray
    ioa: np.ndarray


def candidate_pairs(
    truths: Sequence[FrameTruth], detections: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, Candidates]:
    """Sorted flat detections, their frame, and the overlapping pairs, once for all settings
    (nothing here depends on the setting: detections are not filtered by height)."""
    kept, frame_of, pairs = [], [], []
    det_start = box_start = 0
    for index, (truth, dets) in enumerate(zip(truths, detections, strict=True)):
        dets = dets[np.argsort(-dets[:, 4], kind="stable")[:MAX_DETECTIONS]]
        boxes = np.reshape(truth.boxes, (-1, 4)).astype(float)
        if len(dets) and len(boxes):
            iou, ioa = overlaps(dets, boxes)
            d, b = np.nonzero((iou >= IOU_THRESHOLD) | (ioa >= IOU_THRESHOLD))
            pairs.append((d + det_start, b + box_start, iou[d, b], ioa[d, b]))
        kept.append(dets)
        frame_of.append(np.full(len(dets), index))
        det_start += len(dets)
        box_start += len(boxes)
    columns = (
        [np.concatenate(c) for c in zip(*pairs, strict=True)] if pairs else [np.zeros(0, int)] * 4
    )
    return (
        np.concatenate(kept) if kept else np.zeros((0, 5)),
        np.concatenate(frame_of) if frame_of else np.zeros(0, int),
        Candidates(*columns),
    )


def match(candidates: Candidates, kept: np.ndarray, detections: int) -> np.ndarray:
    """Label each detection for one setting (datasets/README.md, step 3); IoU ties go to the
    later box, as in the reference implementations."""
    labels = np.full(detections, FALSE_POSITIVE)
    c = candidates
    region = ~kept[c.box] & (c.ioa >= IOU_THRESHOLD)
    labels[c.det[region]] = IGNORED
    person = kept[c.box] & (c.iou >= IOU_THRESHOLD)
    det, box, iou = c.det[person], c.box[person], c.iou[person]
    # Detections are flat in score order per frame, so sorting pairs by detection index
    # visits them in matching order; within a detection, best IoU (then later box) first.
    order = np.lexsort((-box, -iou, det))
    taken: set[int] = set()
    matched: set[int] = set()
    for d, b in zip(det[order].tolist(), box[order].tolist(), strict=True):
        if d not in matched and b not in taken:
            matched.add(d)
            taken.add(b)
    labels[list(matched)] = TRUE_POSITIVE
    return labels


def log_average_miss_rate(fppi: np.ndarray, miss_rate: np.ndarray) -> float:
    """MR⁻² (0-1): at each reference FPPI the last operating point at or before it (miss
    rate 1 before the first)."""
    at = np.searchsorted(fppi, REFERENCE_FPPI, side="right") - 1
    values = np.where(at >= 0, miss_rate[np.maximum(at, 0)] if len(miss_rate) else 1.0, 1.0)
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(values))))


def curve(scores: np.ndarray, labels: np.ndarray, persons: int, frames: int) -> Curve:
    scored = labels != IGNORED
    order = np.argsort(-scores[scored], kind="mergesort")
    labels = labels[scored][order]
    true_pos = np.cumsum(labels == TRUE_POSITIVE)
    false_pos = np.cumsum(labels == FALSE_POSITIVE)
    fppi = false_pos / max(frames, 1)
    recall = true_pos / persons if persons else np.zeros(len(true_pos))
    miss_rate = 1.0 - recall
    return Curve(
        fppi=fppi,
        miss_rate=miss_rate,
        log_average=log_average_miss_rate(fppi, miss_rate) if persons else math.nan,
        recall=float(recall[-1]) if len(recall) else 0.0,
        frames=frames,
        persons=persons,
    )


def evaluate_miss_rate(
    truths: Sequence[FrameTruth],
    detections: Sequence[np.ndarray],
    subsets: Mapping[str, np.ndarray],
    settings: Mapping[str, Setting] = SETTINGS,
) -> dict[str, dict[str, Curve | None]]:
    """``result[setting][subset]``, None without frames or persons. ``detections[i]`` is
    frame i's (M, 5) ``x, y, w, h, score``; ``subsets`` are boolean masks over frames."""
    if len(truths) != len(detections):
        raise ValueError(
            f"{len(truths)} frames of ground truth but {len(detections)} of detections"
        )
    dets = [np.asarray(d, float).reshape(-1, 5) for d in detections]
    flat_dets, det_frame, candidates = candidate_pairs(truths, dets)
    truth = flatten_truth(truths) if truths else None
    box_frame = np.repeat(np.arange(len(truths)), [len(t.boxes) for t in truths])
    results: dict[str, dict[str, Curve | None]] = {}
    for name, setting in settings.items():
        kept = kept_truth(truth, setting) if truth is not None else np.zeros(0, bool)
        labels = match(candidates, kept, len(flat_dets))
        persons = np.bincount(box_frame[kept], minlength=len(truths))
        results[name] = {}
        for subset, mask in subsets.items():
            mask = np.asarray(mask, bool)
            frames, people = int(mask.sum()), int(persons[mask].sum())
            if not frames or not people:
                results[name][subset] = None
                continue
            chosen = mask[det_frame]
            results[name][subset] = curve(flat_dets[chosen, 4], labels[chosen], people, frames)
    return results


SUBSETS = ("all", "day", "night")
RECALL_PREFIX = "recall_"


def metric_name(setting: str, subset: str) -> str:
    return f"{MISS_RATE_PREFIX}{setting}_{subset}"


def summarize(results: Mapping[str, Mapping[str, Curve | None]]) -> dict[str, float | None]:
    """``MR_<setting>_<subset>`` (all first) and ``recall_<setting>_<subset>``, in percent."""
    metrics: dict[str, float | None] = {}
    for prefix, field in ((MISS_RATE_PREFIX, "log_average"), (RECALL_PREFIX, "recall")):
        for setting, by_subset in results.items():
            for subset, result in by_subset.items():
                value = None if result is None else 100.0 * getattr(result, field)
                metrics[f"{prefix}{setting}_{subset}"] = value
    return metrics
