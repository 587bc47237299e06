"""Layout 1, the study's own: ``images/<key>.npy`` (H, W, 5) uint8 + ``labels/<key>.txt`` YOLO
(``<key>``: the path below the folder without suffix), and the conversion of any dataset to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..progress import progress as progress_of
from .annotations import format_yolo, parse_yolo
from .errors import BadSamples, DatasetError, build_records, problem, require_samples
from .events import DEFAULT_EVENTS, EventSynthesis
from .frames import CHANNELS, frame_record, read_frame


def load_npy_yolo(
    images_dir: str | Path,
    labels_dir: str | Path,
    classes: list[str],
    skip_bad_samples: bool = False,
) -> list[dict[str, Any]]:
    """Detectron2 dataset dicts of a layout-1 folder pair; every frame needs a label file
    (empty: a negative frame, kept) and every label file a frame."""
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for folder, key in ((images_dir, "IMAGES"), (labels_dir, "LABELS")):
        if not folder.is_dir():
            raise problem(
                folder,
                "folder does not exist",
                f"set DATASETS.GAFF.{key} to the folder that holds the "
                f"{'.npy frames' if key == 'IMAGES' else 'YOLO .txt labels'}",
            )
    frames = sorted(images_dir.rglob("*.npy"))
    require_samples(frames, images_dir, "put (H, W, 5) uint8 .npy frames there")
    keys = {_key(path, images_dir) for path in frames}

    def build(index: int, path: Path) -> dict[str, Any]:
        key = _key(path, images_dir)
        label = labels_dir / f"{key}.txt"
        if not label.is_file():
            raise problem(
                label,
                f"label file for frame {path} is missing",
                "create it (an empty file marks a frame without objects)",
            )
        record = frame_record(index, key, path)
        record["annotations"] = parse_yolo(label, classes, record["height"], record["width"])
        return record

    orphans = (
        problem(label, "has no frame .npy with the same name", "add it or remove the label")
        for label in sorted(labels_dir.rglob("*.txt"))
        if _key(label, labels_dir) not in keys
    )
    return build_records(frames, build, f"{images_dir} + {labels_dir}", skip_bad_samples, orphans)


def write_npy_yolo(
    images_dir: str | Path,
    labels_dir: str | Path,
    key: str,
    frame: np.ndarray,
    annotations: list[dict[str, Any]],
) -> None:
    """Write one layout-1 sample; ``annotations`` are Detectron2 dicts with 0-based classes."""
    if frame.ndim != 3 or frame.shape[2] != len(CHANNELS) or frame.dtype != np.uint8:
        raise DatasetError(
            f"{key}: expected an (H, W, 5) uint8 frame, got {frame.shape} {frame.dtype}"
        )
    image_path = Path(images_dir) / f"{key}.npy"
    label_path = Path(labels_dir) / f"{key}.txt"
    for path in (image_path, label_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    np.save(image_path, frame)
    label_path.write_text(format_yolo(annotations, frame.shape[0], frame.shape[1]))


def _key(path: Path, folder: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def convert_to_npy_yolo(
    records: list[dict[str, Any]],
    out_dir: str | Path,
    events: EventSynthesis = DEFAULT_EVENTS,
    max_size: int = 0,
    skip_bad_samples: bool = False,
    progress: bool = True,
    source: str = "",
) -> int:
    """Write every record in layout 1 under ``out_dir`` (settings in ``conversion.json``);
    returns the frames written. Events are synthesised at full resolution, then ``max_size``
    shrinks longer frames (a 1280x1024 LLVIP frame is 6.5 MB as .npy), boxes alike."""
    out_dir = Path(out_dir)
    bad = BadSamples(f"conversion to {out_dir}", skip_bad_samples)
    written = 0
    for record in progress_of(records, "converting", "frame", enabled=progress):
        try:
            frame = read_frame(record, events)
        except DatasetError as err:
            bad.add(err)
            continue
        annotations = record["annotations"]
        scale = max_size / max(frame.shape[:2]) if max_size else 1.0
        if scale < 1:
            size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            factors = (size[0] / record["width"], size[1] / record["height"]) * 2
            annotations = [
                {**ann, "bbox": [v * f for v, f in zip(ann["bbox"], factors, strict=True)]}
                for ann in annotations
            ]
        write_npy_yolo(
            out_dir / "images", out_dir / "labels", record["frame_key"], frame, annotations
        )
        written += 1
    bad.finish(len(records))
    settings = {"source": source, "frames": written, "events": vars(events), "max_size": max_size}
    (out_dir / "conversion.json").write_text(json.dumps(settings, indent=1))
    return written
