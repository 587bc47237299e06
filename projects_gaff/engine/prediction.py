"""Run a trained detector over frames: COCO-format detections and side-by-side PNGs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from detectron2.structures import Instances
from tqdm import tqdm

from ..atomic import atomic_write_json
from ..data import EventSynthesis, read_frame
from ..data.frames import npy_frame_size
from .predictor import GAFFPredictor

BOX_COLOUR = (0, 255, 0)  # RGB
MIN_PANEL_HEIGHT = 320


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
        records.append(
            {
                "file_name": str(path),
                "image_id": index,
                "frame_key": path.stem,
                "height": height,
                "width": width,
            }
        )
    return records


def side_by_side(frame: np.ndarray, instances: Instances, score_threshold: float) -> np.ndarray:
    """RGB | thermal (grey) of an (H, W, 5) frame with the kept boxes drawn on both (RGB).

    Frames under ``MIN_PANEL_HEIGHT`` px are enlarged by an integer factor (nearest
    neighbour) so that boxes and scores stay legible.
    """
    scale = max(1, math.ceil(MIN_PANEL_HEIGHT / frame.shape[0]))
    enlarge = partial(cv2.resize, dsize=None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    rgb = enlarge(np.ascontiguousarray(frame[:, :, :3]))
    thermal = enlarge(np.ascontiguousarray(np.repeat(frame[:, :, 3:4], 3, axis=2)))
    keep = instances.scores >= score_threshold
    boxes = (instances.pred_boxes.tensor[keep] * scale).round().int().tolist()
    for panel in (rgb, thermal):
        for (x0, y0, x1, y1), score in zip(boxes, instances.scores[keep].tolist(), strict=True):
            cv2.rectangle(panel, (x0, y0), (x1, y1), BOX_COLOUR, 2)
            cv2.putText(
                panel,
                f"{score:.2f}",
                (x0, max(12, y0 - 3)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                BOX_COLOUR,
                1,
                cv2.LINE_AA,
            )
    gap = np.full((rgb.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([rgb, gap, thermal], axis=1)


def predict_frames(
    predictor: GAFFPredictor,
    records: Iterable[dict],
    output_dir: str | Path,
    events: EventSynthesis,
    score_threshold: float = 0.5,
    max_pngs: int = 50,
) -> list[dict]:
    """Detect on every record; write ``detections.json`` (COCO results, all scores, plus
    ``file_name``) and up to ``max_pngs`` PNGs of boxes scoring ``score_threshold`` or more."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    records = list(records)
    detections = []
    for index, record in enumerate(tqdm(records, desc="predict", unit="frame")):
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
    atomic_write_json(output_dir / "detections.json", detections)
    return detections
