"""Converting any loaded dataset (layouts 2 and 3) into the study's layout 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2

from ..progress import progress as progress_of
from .errors import BadSamples, DatasetError
from .events import DEFAULT_EVENTS, EventSynthesis
from .frames import read_frame
from .npy_yolo import write_npy_yolo


def convert_to_npy_yolo(
    records: list[dict[str, Any]],
    out_dir: str | Path,
    events: EventSynthesis = DEFAULT_EVENTS,
    max_size: int = 0,
    skip_bad_samples: bool = False,
    progress: bool = True,
    source: str = "",
) -> int:
    """Write ``out_dir/images/<key>.npy`` + ``out_dir/labels/<key>.txt`` for every record.

    Events are synthesised at full resolution, then ``max_size`` > 0 shrinks frames whose
    longer side exceeds it (a 1280x1024 LLVIP frame is 6.5 MB as .npy), boxes alike.
    ``conversion.json`` records the settings and ``source``. Returns the frames written.
    """
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
            sx, sy = size[0] / record["width"], size[1] / record["height"]
            annotations = [
                {
                    **ann,
                    "bbox": [
                        ann["bbox"][0] * sx,
                        ann["bbox"][1] * sy,
                        ann["bbox"][2] * sx,
                        ann["bbox"][3] * sy,
                    ],
                }
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
