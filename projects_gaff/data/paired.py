"""The layouts with one file per modality; a missing event file is synthesised (:mod:`.events`).

Layout 2, paired folders of public RGB-thermal sets (LLVIP, FLIR-aligned style):
``<root>/<prefix>/visible/<rest>/<name>.jpg`` pairs with the same path under ``infrared/``
(any image suffix) and, optionally, ``event/``; folder names are configurable. The frame key
is the path without the modality folder and suffix (``train/010001``, ``set00/V000/I00000``).
Annotations: a folder of Pascal VOC XML (``<key>.xml``, else ``<name>.xml``) or a COCO json
whose image ``file_name`` matches the key (else the name, when unique).

Layout 3, one COCO json whose ``images`` entries have ``"modalities": {"rgb": ..., "thermal":
..., "event": ...}`` (paths relative to the image root, default the json's folder; ``event``
optional) beside ``id``, ``width``, ``height``; ``bbox`` XYWH pixels, categories by name.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .annotations import coco_annotations, load_coco_json, parse_voc
from .errors import build_records, problem, require_samples
from .events import link_event_references
from .frames import FRAME_SUFFIXES, IMAGE_SUFFIXES, find_file, frame_record


def load_paired(
    root: str | Path,
    classes: list[str],
    rgb_dir: str = "visible",
    thermal_dir: str = "infrared",
    event_dir: str = "event",
    annotations: str = "Annotations",
    sequential: bool = True,
    skip_bad_samples: bool = False,
) -> list[dict[str, Any]]:
    """Detectron2 dataset dicts of a paired-folder dataset; modalities stay separate files,
    and without an event file the event channel is synthesised at load time (:mod:`.events`)."""
    root = Path(root)
    if not root.is_dir():
        raise problem(root, "dataset folder does not exist", "set DATASETS.GAFF.ROOT to it")
    rgb_files = _modality_files(root, rgb_dir)
    require_samples(
        rgb_files, root, f"put the RGB images in a '{rgb_dir}' folder (DATASETS.GAFF.RGB_DIR)"
    )
    labels = _Annotations(root / annotations, rgb_dir, classes)

    def build(index: int, rgb: Path) -> dict[str, Any]:
        parts = rgb.relative_to(root).parts
        at = parts.index(rgb_dir)
        key = "/".join((*parts[:at], *parts[at + 1 : -1], rgb.stem))
        thermal = _partner(root, parts, at, thermal_dir, rgb, required=True)
        event = _partner(root, parts, at, event_dir, rgb, required=False)
        paths = {"rgb": str(rgb), "thermal": str(thermal), "event": event and str(event)}
        record = frame_record(index, key, paths)
        record["annotations"] = labels.of(key, record["height"], record["width"])
        return record

    orphans = (
        problem(orphan, f"has no RGB image in '{rgb_dir}'", "add it or remove this file")
        for name in (thermal_dir, event_dir)
        for orphan in _modality_files(root, name)
        if not _has_rgb(root, orphan, name, rgb_dir)
    )
    records = build_records(rgb_files, build, str(root), skip_bad_samples, orphans)
    link_event_references(records, sequential)
    return records


def _modality_files(root: Path, folder: str) -> list[Path]:
    """Image (and, for events, .npy) files below any folder named ``folder``."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in FRAME_SUFFIXES
        and folder in path.relative_to(root).parts[:-1]
        and path.is_file()
    )


def _partner(
    root: Path, parts: tuple[str, ...], at: int, folder: str, rgb: Path, required: bool
) -> Path | None:
    """The file of another modality for ``rgb``: same relative path, any image suffix."""
    directory = root.joinpath(*parts[:at], folder, *parts[at + 1 : -1])
    if not directory.is_dir():
        if required:
            raise problem(
                directory,
                f"folder for the partner of {rgb} does not exist",
                f"create it with the {folder} images, or set the folder name in the config",
            )
        return None
    found = find_file(directory, rgb.stem, (x for s in FRAME_SUFFIXES for x in (s, s.upper())))
    if found is None:
        raise problem(
            directory / rgb.name,
            f"is missing: {rgb} has no {folder} partner",
            f"add the {folder} frame with the same name, or remove the RGB image",
        )
    return found


def _has_rgb(root: Path, path: Path, folder: str, rgb_dir: str) -> bool:
    """Whether a thermal/event file has an RGB image (else it is an orphan, reported)."""
    parts = list(path.relative_to(root).parts)
    parts[parts.index(folder)] = rgb_dir
    return find_file(root.joinpath(*parts[:-1]), path.stem, IMAGE_SUFFIXES) is not None


class _Annotations:
    """Looks up a frame's boxes in a VOC folder or a COCO json, by frame key."""

    def __init__(self, location: Path, rgb_dir: str, classes: list[str]):
        self.location, self.classes = location, classes
        self.coco = None
        if location.suffix.lower() == ".json":
            self.coco = load_coco_json(location)
            self.by_key: dict[str, dict] = {}
            self.by_name: dict[str, list[dict]] = defaultdict(list)
            for image in self.coco["images"]:
                parts = [p for p in Path(image["file_name"]).with_suffix("").parts if p != rgb_dir]
                self.by_key["/".join(parts)] = image
                self.by_name[parts[-1]].append(image)
        elif not location.is_dir():
            raise problem(
                location,
                "annotation folder or json does not exist",
                "set DATASETS.GAFF.ANNOTATIONS (relative to ROOT) to the VOC folder or COCO json",
            )

    def of(self, key: str, height: int, width: int) -> list[dict[str, Any]]:
        name = key.rsplit("/", 1)[-1]
        if self.coco is None:
            for xml in (self.location / f"{key}.xml", self.location / f"{name}.xml"):
                if xml.is_file():
                    return parse_voc(xml, self.classes, height, width)
            raise problem(
                self.location / f"{key}.xml",
                "annotation is missing",
                "add it (a VOC file without <object> marks a frame without objects)",
            )
        image = self.by_key.get(key)
        if image is None and len(self.by_name.get(name, [])) == 1:
            image = self.by_name[name][0]
        if image is None:
            raise problem(
                self.location,
                f"has no image entry for frame {key}",
                "add it to 'images' (with no annotations for a frame without objects)",
            )
        return coco_annotations(self.location, self.coco, image, self.classes, height, width)


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
