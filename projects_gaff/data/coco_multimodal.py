"""Layout 3: one COCO json whose image entries carry one file per modality.

Each entry of ``images`` has ``"modalities": {"rgb": ..., "thermal": ..., "event": ...}``
(paths relative to the image root, default the json's folder; ``event`` optional, then
synthesised as in layout 2) beside the usual ``id``, ``width``, ``height``. Boxes are the
usual ``annotations`` (``bbox`` XYWH pixels) and categories are matched by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .annotations import coco_annotations, load_coco_json
from .errors import build_records, problem, require_samples
from .events import link_event_references
from .frames import frame_record


def load_coco_multimodal(
    json_file: str | Path,
    classes: list[str],
    image_root: str | Path | None = None,
    sequential: bool = True,
    skip_bad_samples: bool = False,
) -> list[dict[str, Any]]:
    """Detectron2 dataset dicts of a multi-modal COCO json; frame key = rgb path sans suffix."""
    json_file = Path(json_file)
    root = Path(image_root) if image_root else json_file.parent
    index = load_coco_json(json_file)
    require_samples(index["images"], json_file, "list the frames in 'images'")

    def build(number: int, image: dict[str, Any]) -> dict[str, Any]:
        where = f"{json_file} (image {image.get('id')})"
        files = image.get("modalities")
        if not isinstance(files, dict) or not files.get("rgb") or not files.get("thermal"):
            raise problem(
                where,
                "has no 'modalities' with 'rgb' and 'thermal' paths",
                'give each image "modalities": {"rgb": ..., "thermal": ..., "event": ...}',
            )
        paths = {
            name: files.get(name) and str(root / files[name])
            for name in ("rgb", "thermal", "event")
        }
        parts = Path(files["rgb"]).with_suffix("").parts
        key = "/".join(p for p in parts if p not in ("..", ".", "/"))
        record = frame_record(number, key, paths)
        height, width = record["height"], record["width"]
        declared = (image.get("height", height), image.get("width", width))
        if declared != (height, width):
            raise problem(
                where,
                f"declares {declared[1]}x{declared[0]} but {paths['rgb']} is {width}x{height}",
                "correct 'width'/'height' or the image",
            )
        record["annotations"] = coco_annotations(json_file, index, image, classes, height, width)
        return record

    records = build_records(index["images"], build, str(json_file), skip_bad_samples)
    link_event_references(records, sequential)
    return records
