"""Layout 1 (.npy frames + YOLO txt): reading, negatives, and every bad-input case."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from detectron2.structures import BoxMode

from projects_gaff.data import DatasetError, load_npy_yolo, write_npy_yolo

CLASSES = ["person", "car"]


def frame(height: int = 40, width: int = 60, fill: int = 7) -> np.ndarray:
    return np.full((height, width, 5), fill, np.uint8)


def box(x0: float, y0: float, x1: float, y1: float, category: int = 0) -> dict:
    return {"bbox": [x0, y0, x1, y1], "bbox_mode": BoxMode.XYXY_ABS, "category_id": category}


@pytest.fixture
def layout1(tmp_path):
    """Three frames: two objects, a negative (empty label), one in a sub-folder."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_npy_yolo(images, labels, "a", frame(), [box(6, 4, 30, 20), box(30, 10, 60, 40, 1)])
    write_npy_yolo(images, labels, "b", frame(), [])
    write_npy_yolo(images, labels, "seq1/c", frame(50, 70), [box(0, 0, 7, 10)])
    return images, labels


def test_reads_frames_boxes_and_keeps_negatives(layout1):
    records = load_npy_yolo(*layout1, CLASSES)
    by_key = {r["frame_key"]: r for r in records}
    assert sorted(by_key) == ["a", "b", "seq1/c"]
    a = by_key["a"]
    assert (a["height"], a["width"]) == (40, 60)
    assert a["file_name"].endswith("a.npy")
    assert [ann["category_id"] for ann in a["annotations"]] == [0, 1]
    np.testing.assert_allclose(a["annotations"][0]["bbox"], [6, 4, 30, 20], atol=1e-3)
    assert all(ann["bbox_mode"] == BoxMode.XYXY_ABS for ann in a["annotations"])
    assert by_key["b"]["annotations"] == []  # negative frame kept, not dropped
    assert (by_key["seq1/c"]["height"], by_key["seq1/c"]["width"]) == (50, 70)
    assert sorted(r["image_id"] for r in records) == [0, 1, 2]


def test_edge_touching_yolo_boxes_are_clipped_not_rejected(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_npy_yolo(images, labels, "a", frame(), [])
    (labels / "a.txt").write_text("0 0.0 0.5 0.2 0.5\n\n")  # centred on the left edge
    (ann,) = load_npy_yolo(images, labels, CLASSES)[0]["annotations"]
    np.testing.assert_allclose(ann["bbox"], [0, 10, 6, 30], atol=1e-4)


def _label(text):
    return lambda images, labels: (labels / "a.txt").write_text(text)


BAD_CASES = {
    "missing label": (lambda i, lab: (lab / "a.txt").unlink(), "a.txt", "label file"),
    "orphan label": (lambda i, lab: (lab / "z.txt").write_text(""), "z.txt", "no frame"),
    "wrong channels": (
        lambda i, lab: np.save(i / "a.npy", np.zeros((4, 4, 3), np.uint8)),
        "a.npy",
        "shape",
    ),
    "wrong dtype": (
        lambda i, lab: np.save(i / "a.npy", np.zeros((4, 4, 5), np.float32)),
        "a.npy",
        "dtype",
    ),
    "corrupt npy": (
        lambda i, lab: (i / "a.npy").write_bytes(b"not an array"),
        "a.npy",
        "cannot be read",
    ),
    "field count": (_label("0 0.5 0.5 0.2\n"), "a.txt:1", "4 fields"),
    "not a number": (_label("0 0.5 half 0.2 0.2\n"), "a.txt:1", "not a number"),
    "non-finite": (_label("0 0.5 nan 0.2 0.2\n"), "a.txt:1", "non-finite"),
    "outside [0, 1]": (_label("0 0.5 0.5 1.2 0.2\n"), "a.txt:1", "outside [0, 1]"),
    "zero area": (_label("0 0.5 0.5 0 0.2\n"), "a.txt:1", "zero-area"),
    "negative width": (_label("0 0.5 0.5 -0.2 0.2\n"), "a.txt:1", "negative box width"),
    "truncated npy": (
        lambda i, lab: (i / "a.npy").write_bytes((i / "a.npy").read_bytes()[:200]),
        "a.npy",
        "cannot be read",
    ),
    "class beyond classes": (_label("2 0.5 0.5 0.2 0.2\n"), "a.txt:1", "class id 2"),
    "fractional class": (_label("0.5 0.5 0.5 0.2 0.2\n"), "a.txt:1", "class id 0.5"),
    "binary label": (
        lambda i, lab: (lab / "a.txt").write_bytes(b"\xff\xfe\x00"),
        "a.txt",
        "not a text",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_problem_and_fix(layout1, case):
    images, labels = layout1
    damage, where, what = BAD_CASES[case]
    damage(images, labels)
    with pytest.raises(DatasetError) as info:
        load_npy_yolo(images, labels, CLASSES)
    message = str(info.value)
    assert where in message and what in message and "Fix:" in message
    assert len(info.value.problems) == 1


def test_all_problems_are_reported_at_once(layout1):
    images, labels = layout1
    (labels / "a.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    (labels / "b.txt").unlink()
    with pytest.raises(DatasetError) as info:
        load_npy_yolo(images, labels, CLASSES)
    assert len(info.value.problems) == 2
    assert "a.txt" in str(info.value) and "b.txt" in str(info.value)
    assert "SKIP_BAD_SAMPLES" in str(info.value)


def test_skip_mode_logs_each_skipped_file_and_the_count(layout1, caplog):
    images, labels = layout1
    (labels / "a.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    np.save(images / "b.npy", np.zeros((4, 4, 3), np.uint8))
    with caplog.at_level(logging.WARNING, logger="projects_gaff.data"):
        records = load_npy_yolo(images, labels, CLASSES, skip_bad_samples=True)
    assert [r["frame_key"] for r in records] == ["seq1/c"]
    text = caplog.text
    assert "a.txt" in text and "b.npy" in text
    assert "Skipped 2 of 3 samples" in text


def test_empty_or_missing_dataset_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetError, match="contains no samples"):
        load_npy_yolo(tmp_path / "images", tmp_path / "labels", CLASSES)
    with pytest.raises(DatasetError, match=r"does not exist.*DATASETS.GAFF.IMAGES to the folder"):
        load_npy_yolo(tmp_path / "nope", tmp_path / "labels", CLASSES)
    with pytest.raises(DatasetError, match=r"LABELS to the folder that holds the YOLO .txt"):
        load_npy_yolo(tmp_path / "images", tmp_path / "nope", CLASSES)


def test_skip_mode_with_nothing_left_is_still_an_error(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_npy_yolo(images, labels, "a", frame(), [])
    (labels / "a.txt").write_text("9 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match="no samples"):
        load_npy_yolo(images, labels, CLASSES, skip_bad_samples=True)
