"""Layout 3: a COCO json whose images carry one file per modality."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from projects_gaff.config import add_gaff_config
from projects_gaff.data import (
    DatasetError,
    load_coco_multimodal,
    read_frame,
    register_datasets_from_config,
)


@pytest.fixture
def coco(tmp_path):
    """Two frames of one sequence (rgb/thermal/event PNGs), one without an event file."""
    for folder in ("rgb", "ir", "ev"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for i in (1, 2):
        rgb = np.full((20, 30, 3), (10 * i, 20, 30), np.uint8)
        cv2.imwrite(str(tmp_path / "data" / "rgb" / f"f{i}.png"), rgb[..., ::-1])
        cv2.imwrite(
            str(tmp_path / "data" / "ir" / f"f{i}.png"), np.full((20, 30), 100 + i, np.uint8)
        )
    cv2.imwrite(str(tmp_path / "data" / "ev" / "f1.png"), np.full((20, 30), 77, np.uint8))
    content = {
        "images": [
            {
                "id": 11,
                "width": 30,
                "height": 20,
                "modalities": {"rgb": "rgb/f1.png", "thermal": "ir/f1.png", "event": "ev/f1.png"},
            },
            {
                "id": 12,
                "width": 30,
                "height": 20,
                "modalities": {"rgb": "rgb/f2.png", "thermal": "ir/f2.png"},
            },
        ],
        "annotations": [
            {"id": 1, "image_id": 11, "category_id": 5, "bbox": [3, 4, 10, 8]},
            {"id": 2, "image_id": 11, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        ],
        "categories": [{"id": 5, "name": "car"}, {"id": 7, "name": "person"}],
    }
    path = tmp_path / "data" / "rgbte.json"
    path.write_text(json.dumps(content))
    return path, content


def test_reads_modalities_boxes_and_categories_by_name(coco):
    path, _ = coco
    first, second = load_coco_multimodal(path, ["person", "car"])
    assert first["frame_key"] == "rgb/f1"
    assert [a["category_id"] for a in first["annotations"]] == [1, 0]  # by name, 0-based
    assert first["annotations"][0]["bbox"] == [3, 4, 13, 12]  # XYWH -> XYXY
    assert first["annotations"][1]["iscrowd"] == 1
    assert second["annotations"] == []  # a negative frame is kept
    frame = read_frame(first)
    assert frame.shape == (20, 30, 5)
    np.testing.assert_array_equal(frame[0, 0], [10, 20, 30, 101, 77])
    # No event file: synthesised from its neighbour f1 (the red channel changed 10 -> 20).
    assert second["event_reference"]["rgb"].endswith("rgb/f1.png")
    assert read_frame(second)[..., 4].any()


def test_registered_from_config(coco):
    path, _ = coco
    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_list(
        [
            "DATASETS.GAFF.NAME",
            "rgbte",
            "DATASETS.GAFF.LAYOUT",
            "coco",
            "DATASETS.GAFF.ANNOTATIONS",
            str(path),
            "DATASETS.GAFF.CLASSES",
            ["person", "car"],
            "DATASETS.GAFF.SPLIT_FRACTIONS",
            [1.0, 0.0, 0.0],
        ]
    )
    register_datasets_from_config(cfg)
    assert [r["image_id"] for r in DatasetCatalog.get("rgbte_train")] == [0, 1]
    assert MetadataCatalog.get("rgbte_train").thing_classes == ["person", "car"]


def test_image_root_overrides_the_json_folder(coco, tmp_path):
    path, content = coco
    moved = tmp_path / "elsewhere.json"
    moved.write_text(json.dumps(content))
    assert len(load_coco_multimodal(moved, ["person", "car"], image_root=path.parent)) == 2
    with pytest.raises(DatasetError, match="missing"):
        load_coco_multimodal(moved, ["person", "car"])


def _edit(change):
    def damage(path, content):
        change(content)
        path.write_text(json.dumps(content))

    return damage


BAD_CASES = {
    "no modalities": (
        _edit(lambda c: c["images"][1].pop("modalities")),
        "image 12",
        "'modalities'",
    ),
    "unknown class": (
        _edit(lambda c: c["categories"].__setitem__(0, {"id": 5, "name": "bus"})),
        "annotation 1",
        "'bus'",
    ),
    "declared size": (
        _edit(lambda c: c["images"][0].__setitem__("width", 31)),
        "image 11",
        "declares",
    ),
    "zero-area box": (
        _edit(lambda c: c["annotations"][0].__setitem__("bbox", [3, 4, 0, 8])),
        "annotation 1",
        "zero-area",
    ),
    "unknown image": (
        _edit(lambda c: c["annotations"][0].__setitem__("image_id", 99)),
        "rgbte.json",
        "unknown image id 99",
    ),
    "not json": (lambda p, c: p.write_text("{"), "rgbte.json", "not a COCO json"),
    "missing event": (lambda p, c: (p.parent / "ev" / "f1.png").unlink(), "f1.png", "missing"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_problem_and_fix(coco, case):
    path, content = coco
    damage, where, what = BAD_CASES[case]
    damage(path, content)
    with pytest.raises(DatasetError) as info:
        load_coco_multimodal(path, ["person", "car"])
    assert where in str(info.value) and what in str(info.value) and "Fix:" in str(info.value)


def test_empty_images_list_is_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(DatasetError, match="no samples"):
        load_coco_multimodal(path, ["person"])
