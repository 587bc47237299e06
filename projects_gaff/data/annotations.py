"""Box annotations in YOLO txt, Pascal VOC XML and COCO json, read as Detectron2 annotations
(XYXY_ABS pixels, ``category_id`` into the configured classes); a box that cannot be trusted
raises a :class:`DatasetError` naming the file and line or object."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from detectron2.structures import BoxMode

from .errors import numbers, problem, text_lines

# Pixels a VOC/COCO box may overhang the image before it is an error (rounding, 1-based
# VOC coordinates); smaller overhangs are clipped.
_OVERHANG_PX = 1.0


def parse_yolo(path: Path, classes: list[str], height: int, width: int) -> list[dict[str, Any]]:
    """Read a YOLO label file (``class xc yc w h`` per line, normalised); empty = negative."""
    lines = text_lines(path, "write one 'class xc yc w h' line per box")
    return [
        _yolo_row(f"{path}:{number}", line, classes, height, width)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


def _yolo_row(where: str, line: str, classes: list[str], height: int, width: int) -> dict:
    fields = line.split()
    if len(fields) != 5:
        raise problem(
            where, f"has {len(fields)} fields ({line.strip()!r})", "write 'class xc yc w h'"
        )
    values = numbers(where, fields, line)
    if not all(math.isfinite(v) for v in values):
        raise problem(where, f"has a non-finite value ({line.strip()!r})", "correct the box")
    category = _class_id(where, values[0], classes)
    xc, yc, w, h = values[1:]
    if w < 0 or h < 0:
        raise problem(
            where,
            f"has a negative box width or height ({line.strip()!r})",
            "write 'class xc yc w h' with the centre first and a positive width and height "
            "(a box given as two corners needs converting)",
        )
    if not all(0.0 <= v <= 1.0 for v in (xc, yc, w, h)):
        raise problem(
            where,
            f"has coordinates outside [0, 1] ({line.strip()!r})",
            "YOLO coordinates are fractions of the image size: divide x and w by the image "
            "width, y and h by its height",
        )
    box = [(xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height]
    return _annotation(where, box, category, height, width, overhang=math.inf)


def _class_id(where: str, value: float, classes: list[str]) -> int:
    if value != int(value) or not 0 <= value < len(classes):
        raise problem(
            where,
            f"has class id {value:g}, but the configured classes are {classes} "
            f"(ids 0-{len(classes) - 1})",
            "add the class to DATASETS.GAFF.CLASSES or correct the label",
        )
    return int(value)


def _category_by_name(where: str, name: str, classes: list[str]) -> int:
    if name not in classes:
        raise problem(
            where,
            f"has class {name!r}, which is not among the configured classes {classes}",
            "add it to DATASETS.GAFF.CLASSES or correct the annotation",
        )
    return classes.index(name)


def _annotation(
    where: str, box: list[float], category: int, height: int, width: int, overhang: float
) -> dict[str, Any]:
    """Check an XYXY pixel box, clip it to the image, wrap it as a Detectron2 annotation."""
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box):
        raise problem(where, f"has a non-finite box {box}", "correct the box")
    if x0 < -overhang or y0 < -overhang or x1 > width + overhang or y1 > height + overhang:
        raise problem(
            where,
            f"has box {[round(v, 2) for v in box]} outside the {width}x{height} image",
            "correct the coordinates (XYXY pixels) or the image",
        )
    x0, x1 = max(x0, 0.0), min(x1, float(width))
    y0, y1 = max(y0, 0.0), min(y1, float(height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise problem(
            where,
            f"has a zero-area box ({x1 - x0:.2f}x{y1 - y0:.2f} px after clipping to the image)",
            "remove the row or give the box a real width and height",
        )
    return {
        "bbox": [x0, y0, x1, y1],
        "bbox_mode": BoxMode.XYXY_ABS,
        "category_id": category,
        "iscrowd": 0,
    }


def format_yolo(annotations: list[dict[str, Any]], height: int, width: int) -> str:
    """YOLO txt content for XYXY_ABS annotations (inverse of :func:`parse_yolo`)."""
    lines = []
    for ann in annotations:
        x0, y0, x1, y1 = BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS)
        lines.append(
            f"{ann['category_id']} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
            f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}"
        )
    return "".join(line + "\n" for line in lines)


def parse_voc(path: Path, classes: list[str], height: int, width: int) -> list[dict[str, Any]]:
    """Read a Pascal VOC XML file (no ``<object>``: a negative frame); its corners are 1-based
    and inclusive, so 1 is subtracted from xmin/ymin, as Detectron2's VOC loader does."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise problem(path, f"is not valid XML ({err})", "re-export the annotation") from None
    size = root.find("size")
    if size is not None:
        declared = (_int(size, "height"), _int(size, "width"))
        if all(declared) and declared != (height, width):
            raise problem(
                path,
                f"declares a {declared[1]}x{declared[0]} image but the image is {width}x{height}",
                "the annotation belongs to another image or the image was resized; fix either",
            )
    annotations = []
    for number, obj in enumerate(root.iter("object"), start=1):
        where = f"{path} (object {number})"
        category = _category_by_name(where, (obj.findtext("name") or "").strip(), classes)
        bndbox = obj.find("bndbox")
        try:
            xmin, ymin, xmax, ymax = (
                float(bndbox.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")
            )
        except (AttributeError, TypeError, ValueError):
            raise problem(
                where, "has no numeric bndbox xmin/ymin/xmax/ymax", "correct it"
            ) from None
        box = [xmin - 1, ymin - 1, xmax, ymax]
        annotations.append(_annotation(where, box, category, height, width, _OVERHANG_PX))
    return annotations


def _int(node: ET.Element, tag: str) -> int:
    try:
        return int(float(node.findtext(tag) or 0))
    except ValueError:
        return 0


def load_coco_json(path: Path) -> dict[str, Any]:
    """Parse a COCO json file and index it: images, annotations per image id, category names."""
    try:
        data = json.loads(path.read_text())
        images = data["images"]
        categories = {c["id"]: c["name"] for c in data.get("categories", [])}
    except FileNotFoundError:
        raise problem(
            path, "annotation file is missing", "check DATASETS.GAFF.ANNOTATIONS"
        ) from None
    except (ValueError, KeyError, TypeError) as err:
        raise problem(
            path, f"is not a COCO json with 'images' and 'categories' ({err!r})", "re-export it"
        ) from None
    per_image: dict[Any, list[dict]] = {image["id"]: [] for image in images}
    for ann in data.get("annotations", []):
        if ann.get("image_id") not in per_image:
            raise problem(
                path,
                f"annotation {ann.get('id')} refers to unknown image id {ann.get('image_id')}",
                "remove the annotation or add its image",
            )
        per_image[ann["image_id"]].append(ann)
    return {"images": images, "annotations": per_image, "categories": categories}


def coco_annotations(
    path: Path,
    index: dict[str, Any],
    image: dict[str, Any],
    classes: list[str],
    height: int,
    width: int,
) -> list[dict[str, Any]]:
    """Detectron2 annotations of one COCO image entry (``bbox`` is XYWH pixels)."""
    annotations = []
    for ann in index["annotations"][image["id"]]:
        where = f"{path} (image {image['id']}, annotation {ann.get('id')})"
        name = index["categories"].get(ann.get("category_id"))
        if name is None:
            raise problem(
                where,
                f"has category id {ann.get('category_id')} missing from 'categories'",
                "add it",
            )
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            raise problem(where, "has no numeric 'bbox' [x, y, w, h]", "correct it") from None
        category = _category_by_name(where, name, classes)
        converted = _annotation(where, [x, y, x + w, y + h], category, height, width, _OVERHANG_PX)
        converted["iscrowd"] = int(ann.get("iscrowd", 0))
        annotations.append(converted)
    return annotations
