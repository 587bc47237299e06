"""Run a trained detector over frames: COCO-format detections and side-by-side PNGs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from detectron2.structures import Instances

from ..atomic import atomic_write_json
from ..data import EventSynthesis, read_frame
from ..data.frames import npy_frame_size
from ..progress import progress
from ..run_files import DETECTIONS
from .predictor import GAFFPredictor

BOX_COLOUR = (0, 255, 0)  # RGB
MIN_PANEL_HEIGHT = 320
PANEL_GAP = 4  # white pixels between panels
_FONT, _FONT_SCALE, _PAD = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 2


def npy_records(paths: Sequence[str | Path]) -> list[dict]:
    """Records for .npy frames given as files or folders (layout 1 without labels)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob("*.npy"))
        elif path.suffix == ".npy" and path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(
                f"{path}: not a .npy frame or a folder of them; for other layouts pass "
                "--dataset with a name registered by the config (DATASETS.GAFF)"
            )
    if not files:
        raise FileNotFoundError(f"no .npy frames found in {list(map(str, paths))}")
    records = []
    for index, path in enumerate(files):
        height, width = npy_frame_size(path)
        record = {"file_name": str(path), "image_id": index, "frame_key": path.stem}
        records.append({**record, "height": height, "width": width})
    return records


def side_by_side(frame: np.ndarray, instances: Instances, score_threshold: float) -> np.ndarray:
    """Captioned RGB | thermal | event panels (event only when present) with the boxes;
    small frames are enlarged by an integer factor so boxes and scores stay legible."""
    scale = max(1, math.ceil(MIN_PANEL_HEIGHT / frame.shape[0]))
    enlarge = partial(cv2.resize, dsize=None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    sources = [("RGB", frame[:, :, :3]), ("thermal", np.repeat(frame[:, :, 3:4], 3, axis=2))]
    if frame[:, :, 4].any():
        sources.append(("event", np.repeat(frame[:, :, 4:5], 3, axis=2)))
    keep = instances.scores >= score_threshold
    boxes = (instances.pred_boxes.tensor[keep] * scale).round().int().tolist()
    scores = instances.scores[keep].tolist()
    panels = []
    for caption, source in sources:
        panel = enlarge(np.ascontiguousarray(source))
        for x0, y0, x1, y1 in boxes:
            cv2.rectangle(panel, (x0, y0), (x1, y1), BOX_COLOUR, 2)
        _draw_labels(panel, boxes, scores)
        _draw_text(panel, caption, (4, 4))
        panels.append(panel)
    gap = np.full((panels[0].shape[0], PANEL_GAP, 3), 255, np.uint8)
    return np.concatenate([part for panel in panels for part in (gap, panel)][1:], axis=1)


def _draw_labels(
    panel: np.ndarray, boxes: list[list[int]], scores: list[float]
) -> list[tuple[int, int, int, int]]:
    """Each score (highest first) at the first free place of: above its box, inside, below;
    returns the labels' (x, y, width, height)."""
    taken: list[tuple[int, int, int, int]] = []
    for index in sorted(range(len(scores)), key=lambda i: -scores[i]):
        x0, y0, x1, y1 = boxes[index]
        text = f"{scores[index]:.2f}"
        (width, height), _ = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
        width, height = width + 2 * _PAD, height + 2 * _PAD
        candidates = [(x0, y0 - height), (x0 + 2, y0 + 2), (x0, y1 + 1), (x1 - width, y0 - height)]
        spots = [
            (min(max(0, x), panel.shape[1] - width), min(max(0, y), panel.shape[0] - height))
            for x, y in candidates
        ]
        free = [s for s in spots if not any(_overlap((*s, width, height), t) for t in taken)]
        x, y = (free or spots)[0]
        taken.append((x, y, width, height))
        _draw_text(panel, text, (x, y))
    return taken


def _draw_text(panel: np.ndarray, text: str, corner: tuple[int, int]) -> None:
    (width, height), _ = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
    x, y = corner
    cv2.rectangle(panel, (x, y), (x + width + 2 * _PAD, y + height + 2 * _PAD), (0, 0, 0), -1)
    origin = (x + _PAD, y + _PAD + height)
    cv2.putText(panel, text, origin, _FONT, _FONT_SCALE, BOX_COLOUR, 1, cv2.LINE_AA)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def predict_frames(
    predictor: GAFFPredictor,
    records: Iterable[dict],
    output_dir: str | Path,
    events: EventSynthesis,
    score_threshold: float = 0.5,
    max_pngs: int = 50,
) -> list[dict]:
    """``detections.json`` (COCO results, every score, plus ``file_name``) and up to
    ``max_pngs`` PNGs of the boxes scoring ``score_threshold`` or more."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    records = list(records)
    detections = []
    for index, record in enumerate(progress(records, "predict", "frame")):
        frame = read_frame(record, events)
        instances = predictor(frame)["instances"].to("cpu")
        for (x0, y0, x1, y1), score, label in zip(
            instances.pred_boxes.tensor.tolist(),
            instances.scores.tolist(),
            instances.pred_classes.tolist(),
            strict=True,
        ):
            detections.append(
                {
                    "image_id": record.get("image_id", index),
                    "file_name": record["file_name"],
                    "category_id": label,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": score,
                }
            )
        if index < max_pngs:
            picture = side_by_side(frame, instances, score_threshold)
            name = f"{record.get('frame_key', Path(record['file_name']).stem)}.png"
            cv2.imwrite(str(output_dir / name), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    atomic_write_json(output_dir / DETECTIONS, detections)
    return detections
