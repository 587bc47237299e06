"""Layout 4: the KAIST Multispectral Pedestrian Benchmark's own tree (Hwang et al., CVPR 2015).

``<root>/setXX/VYYY/visible/IZZZZZ.jpg`` pairs with ``lwir/IZZZZZ.jpg`` (3-channel grey
JPEGs; the frame reader keeps one channel) and optionally ``event/``; an image-set list
(``test-all-20.txt``: one ``setXX/VYYY/IZZZZZ`` a line) chooses the frames. Boxes come from
bbGt v3 text files (``<annotations>/setXX/VYYY/IZZZZZ.txt``) or the benchmark's
``KAIST_annotation.json``, and keep what the miss-rate protocol needs: ``height`` (px),
``occlusion`` (0 none, 1 partial, 2 heavy) and ``ignore`` (``people``, ``cyclist`` and
``person?`` are ignore regions, ``iscrowd`` 1: left out of training, crowd to COCO).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from detectron2.structures import BoxMode

from ..config import KAIST_DAY_SETS
from .errors import build_records, numbers, problem, require_samples, text_lines
from .frames import FRAME_SUFFIXES, find_file, frame_record

BBGT_HEADER = "% bbGt version=3"
PERSON = "person"
IGNORE_LABELS = ("people", "cyclist", "person?")
FRAME_KEY = re.compile(r"^(set\d{2})/(V\d{3})/I(\d{5})$")


def daytime(frame_key: str, day_sets: tuple[str, ...] | list[str] = KAIST_DAY_SETS) -> str:
    """ "day" or "night" for a frame key ``setXX/VYYY/IZZZZZ`` (by its set)."""
    return "day" if frame_key.split("/", 1)[0] in day_sets else "night"


def read_image_set(path: str | Path) -> list[str]:
    """Frame keys of an image-set list, in order (blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise problem(
            path,
            "image-set list does not exist",
            "set DATASETS.GAFF.KAIST.TRAIN_SET / TEST_SET (relative to ROOT) to a list such "
            "as imageSets/test-all-20.txt",
        )
    keys = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        key = line.strip().removesuffix(".jpg").removesuffix(".png")
        if not key:
            continue
        if not FRAME_KEY.match(key):
            raise problem(
                f"{path}:{number}",
                f"is not a KAIST frame key ({line.strip()!r})",
                "write one setXX/VYYY/IZZZZZ per line",
            )
        keys.append(key)
    require_samples(keys, path, "list one setXX/VYYY/IZZZZZ frame per line")
    return keys


def parse_bbgt(path: Path, classes: list[str]) -> list[dict[str, Any]]:
    """A bbGt v3 file: ``% bbGt version=3``, then ``label x y w h occ [xv yv wv hv ign ang]``."""
    lines = text_lines(path, f"write a '{BBGT_HEADER}' annotation")
    if not lines or lines[0].strip() != BBGT_HEADER:
        raise problem(
            path,
            f"does not start with '{BBGT_HEADER}'",
            "use KAIST's bbGt v3 annotation files (or its KAIST_annotation.json)",
        )
    annotations = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        label, *fields = line.split()
        if len(fields) not in (5, 11):
            raise problem(
                where,
                f"has {len(fields) + 1} fields ({line.strip()!r})",
                "write 'label x y w h occ' (bbGt v3: then xv yv wv hv ign ang)",
            )
        values = numbers(where, fields, line)
        ignore = len(values) == 11 and values[9] != 0
        annotations.append(_annotation(where, label, values[:4], values[4], ignore, classes))
    return annotations


def _annotation(
    where: str, label: str, box: list[float], occlusion: float, ignore: bool, classes: list[str]
) -> dict[str, Any]:
    """A Detectron2 annotation with the protocol's ``height``, ``occlusion``, ``ignore``."""
    if label not in (PERSON, *IGNORE_LABELS):
        raise problem(
            where,
            f"has the unknown label {label!r}",
            f"KAIST labels are {PERSON!r} and the ignore regions {list(IGNORE_LABELS)}; "
            "correct the label",
        )
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise problem(where, f"has a box of {w:g} x {h:g} px", "give the box a positive size")
    if occlusion not in (0, 1, 2):
        raise problem(where, f"has occlusion {occlusion:g}", "use 0 (none), 1 (partial), 2 (heavy)")
    if PERSON not in classes:
        raise problem(
            where, f"is a KAIST {PERSON!r} box but CLASSES is {classes}", "add 'person' to CLASSES"
        )
    ignore = bool(ignore) or label in IGNORE_LABELS
    return {
        "bbox": [x, y, x + w, y + h],
        "bbox_mode": BoxMode.XYXY_ABS,
        "category_id": classes.index(PERSON),
        "iscrowd": int(ignore),
        "height": h,
        "occlusion": int(occlusion),
        "ignore": int(ignore),
    }


def _json_frames(path: Path, classes: list[str]) -> dict[str, tuple[dict, list[dict]]]:
    """KAIST_annotation.json: the image entry and annotations of each frame key (``im_name``)."""
    try:
        data = json.loads(path.read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        images = {image["im_name"]: image for image in data["images"]}
    except FileNotFoundError:
        raise problem(
            path,
            "annotation json does not exist",
            "check DATASETS.GAFF.ANNOTATIONS / KAIST.TEST_ANNOTATIONS (relative to ROOT)",
        ) from None
    except (ValueError, KeyError, TypeError) as err:
        raise problem(
            path,
            f"is not a KAIST annotation json with 'images' (im_name) and 'categories' ({err!r})",
            "use the benchmark's KAIST_annotation.json",
        ) from None
    by_id = {image["id"]: [] for image in images.values()}
    for number, ann in enumerate(data.get("annotations", [])):
        where = f"{path} (annotation {ann.get('id', number)})"
        label = names.get(ann.get("category_id"))
        if label is None or ann.get("image_id") not in by_id:
            raise problem(
                where,
                f"has category {ann.get('category_id')} / image {ann.get('image_id')} "
                "missing from 'categories' / 'images'",
                "correct the ids",
            )
        try:
            box = [float(v) for v in ann["bbox"]]
        except (KeyError, TypeError, ValueError):
            raise problem(where, "has no numeric 'bbox' [x, y, w, h]", "correct it") from None
        ignore = ann.get("ignore", 0) or label == "__ignore__"
        label = PERSON if label == "__ignore__" else label
        converted = _annotation(where, label, box, ann.get("occlusion", 0), ignore, classes)
        converted["height"] = float(ann.get("height", box[3]))
        by_id[ann["image_id"]].append(converted)
    return {key: (image, by_id[image["id"]]) for key, image in images.items()}


def kaist_json_records(
    path: str | Path,
    classes: list[str] = (PERSON,),
    day_sets: tuple[str, ...] = KAIST_DAY_SETS,
) -> list[dict[str, Any]]:
    """Records of a KAIST_annotation.json alone (no image files), in image-id order: what
    the miss-rate evaluation needs (``frame_key``, size, ``daytime``, annotations)."""
    frames = sorted(_json_frames(Path(path), list(classes)).values(), key=lambda f: f[0]["id"])
    records = [
        {
            "image_id": position,
            "frame_key": image["im_name"],
            "height": int(image["height"]),
            "width": int(image["width"]),
            "daytime": daytime(image["im_name"], day_sets),
            "annotations": annotations,
        }
        for position, (image, annotations) in enumerate(frames)
    ]
    require_samples(records, path, "list the frames in 'images'")
    return records


def load_kaist(
    root: str | Path,
    image_set: str | Path,
    classes: list[str],
    annotations: str | Path = "annotations",
    rgb_dir: str = "visible",
    thermal_dir: str = "lwir",
    event_dir: str = "event",
    day_sets: tuple[str, ...] | list[str] = KAIST_DAY_SETS,
    sequential: bool = True,
    skip_bad_samples: bool = False,
) -> list[dict[str, Any]]:
    """Detectron2 dataset dicts of the frames an image-set list names; ``image_set`` and
    ``annotations`` (bbGt folder or KAIST json) are relative to ``root`` unless absolute."""
    root = Path(root)
    if not root.is_dir():
        raise problem(root, "KAIST folder does not exist", "set DATASETS.GAFF.ROOT to it")
    list_file = root / image_set
    keys = read_image_set(list_file)
    location = root / annotations
    json_frames = _json_frames(location, classes) if location.suffix == ".json" else None
    if json_frames is None and not location.is_dir():
        raise problem(
            location,
            "annotation folder or json does not exist",
            "set DATASETS.GAFF.ANNOTATIONS (relative to ROOT) to the bbGt folder or the json",
        )
    where = {key: f"{list_file}:{n}" for n, key in enumerate(keys, start=1)}

    def frame_file(key: str, folder: str, required: bool) -> Path | None:
        set_name, video, name = key.split("/")
        directory = root / set_name / video / folder
        found = find_file(directory, name, FRAME_SUFFIXES)
        if found is None and required:
            raise problem(
                where[key],
                f"names frame {key}, but {directory / name}.jpg does not exist",
                f"restore the {folder} image, or remove the line from the list",
            )
        return found

    def build(index: int, key: str) -> dict[str, Any]:
        paths = {
            "rgb": str(frame_file(key, rgb_dir, True)),
            "thermal": str(frame_file(key, thermal_dir, True)),
            "event": (event := frame_file(key, event_dir, False)) and str(event),
        }
        record = frame_record(index, key, paths, daytime=daytime(key, day_sets))
        height, width = record["height"], record["width"]
        if json_frames is not None:
            if key not in json_frames:
                raise problem(
                    location, f"has no image with im_name {key!r}", "use the json of these frames"
                )
            image, record["annotations"] = json_frames[key]
            if (image["height"], image["width"]) != (height, width):
                raise problem(
                    location,
                    f"gives {key} as {image['width']}x{image['height']}, "
                    f"the image is {width}x{height}",
                    "use the json of these images",
                )
        else:
            txt = location / f"{key}.txt"
            if not txt.is_file():
                raise problem(
                    txt, "annotation is missing", "restore it (a header alone: no persons)"
                )
            record["annotations"] = parse_bbgt(txt, classes)
        if not paths["event"]:
            record["event_reference"] = neighbour(key) if sequential else None
        return record

    def neighbour(key: str) -> dict[str, str] | None:
        """The previous frame on disk, else the next (also when the image set samples every
        20th frame): the event reference (None: zero events)."""
        prefix, number = key[:-5], int(key[-5:])
        for other in (f"{prefix}{n:05d}" for n in (number - 1, number + 1) if n >= 0):
            rgb, thermal = frame_file(other, rgb_dir, False), frame_file(other, thermal_dir, False)
            if rgb and thermal:
                return {"rgb": str(rgb), "thermal": str(thermal)}
        return None

    return build_records(keys, build, str(list_file), skip_bad_samples)
