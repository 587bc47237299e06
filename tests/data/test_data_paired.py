"""Layout 2 (visible/ + infrared/ [+ event/] with VOC XML or COCO json), on real LLVIP
frames and tiny synthetic sequences, and its conversion to layout 1."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from projects_gaff.data import (
    DatasetError,
    EventSynthesis,
    convert_to_npy_yolo,
    load_npy_yolo,
    load_paired,
    read_frame,
    synthesize_events,
)
from projects_gaff.data.events import luminance


def voc(path: Path, boxes, size=(32, 48), name="person"):
    objects = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for b in boxes
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<annotation><size><width>{size[1]}</width><height>{size[0]}</height></size>"
        f"{objects}</annotation>"
    )


def moving_square(step: int, size=(32, 48)) -> np.ndarray:
    rgb = np.full((*size, 3), 60, np.uint8)
    rgb[8:20, 4 + 4 * step : 16 + 4 * step] = 180
    return rgb


@pytest.fixture
def sequence(tmp_path) -> Path:
    """Frames 000001-000003 of a square moving right, plus a lone frame 'still'."""
    for name in ("visible", "infrared", "Annotations"):
        (tmp_path / name).mkdir()
    for step, stem in enumerate(["000001", "000002", "000003", "still"]):
        rgb = moving_square(step if stem != "still" else 0)
        cv2.imwrite(str(tmp_path / "visible" / f"{stem}.jpg"), rgb[..., ::-1])
        cv2.imwrite(
            str(tmp_path / "infrared" / f"{stem}.png"), np.full(rgb.shape[:2], 30 + step, np.uint8)
        )
        voc(
            tmp_path / "Annotations" / f"{stem}.xml",
            [(5 + 4 * step, 9, 16 + 4 * step, 20)] if step else [],
        )
    return tmp_path


def test_llvip_pairs_boxes_and_frames(llvip_root):
    records = load_paired(llvip_root, ["person"])
    assert len(records) == 30
    first = records[0]
    assert first["frame_key"] == "010001"
    assert (first["height"], first["width"]) == (1024, 1280)
    assert first["modalities"]["thermal"].endswith("infrared/010001.jpg")
    xml = ET.parse(llvip_root / "Annotations" / "010001.xml").getroot()
    objects = xml.findall("object")
    assert len(first["annotations"]) == len(objects)
    b = objects[0].find("bndbox")
    expected = [float(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
    np.testing.assert_allclose(first["annotations"][0]["bbox"], np.add(expected, [-1, -1, 0, 0]))
    # LLVIP has no event camera: frame t uses t-1, the first frame its successor.
    assert first["event_reference"]["rgb"].endswith("visible/010002.jpg")
    assert records[9]["event_reference"]["thermal"].endswith("infrared/010009.jpg")

    frame = read_frame(records[9])
    assert frame.shape == (1024, 1280, 5) and frame.dtype == np.uint8
    rgb = cv2.imread(records[9]["modalities"]["rgb"])[..., ::-1]
    np.testing.assert_array_equal(frame[..., :3], rgb)
    np.testing.assert_array_equal(frame[..., 3], cv2.imread(records[9]["modalities"]["thermal"], 0))
    previous = cv2.imread(records[8]["modalities"]["rgb"])[..., ::-1]
    np.testing.assert_array_equal(
        frame[..., 4], synthesize_events(luminance(previous), luminance(rgb))
    )


def test_events_synthesised_from_neighbours_with_documented_fallbacks(sequence):
    records = {r["frame_key"]: r for r in load_paired(sequence, ["person"])}
    events = {key: read_frame(r)[..., 4] for key, r in records.items()}
    # The square moved 4 px right: events at its trailing and leading 4-px bands only.
    moved = np.flatnonzero(events["000002"][14])
    assert set(moved) >= set(range(5, 7)) | set(range(17, 19)) and 10 not in moved
    np.testing.assert_array_equal(events["000001"], events["000002"])  # first: uses successor
    assert not events["still"].any()  # no neighbour: no events
    thermal = read_frame(records["000002"], EventSynthesis(source="thermal"))[..., 4]
    assert not thermal.any()  # thermal changed by one grey level: below the threshold
    non_sequential = load_paired(sequence, ["person"], sequential=False)
    assert all(r["event_reference"] is None for r in non_sequential)


def test_event_folder_is_used_when_present(sequence):
    (sequence / "event").mkdir()
    for i, stem in enumerate(["000001", "000002", "000003", "still"]):
        np.save(sequence / "event" / f"{stem}.npy", np.full((32, 48), 10 * i, np.uint8))
    records = load_paired(sequence, ["person"])
    assert all("event_reference" not in r for r in records)
    assert (read_frame(records[2])[..., 4] == 20).all()
    (sequence / "event" / "000003.npy").unlink()
    with pytest.raises(DatasetError, match=r"000003.*no event partner"):
        load_paired(sequence, ["person"])


@pytest.mark.parametrize("style", ["llvip", "kaist"])
def test_nested_layouts_of_real_datasets(sequence, style):
    """LLVIP: visible/train/x.jpg + Annotations/x.xml; KAIST: set00/V000/visible/x.jpg +
    Annotations/set00/V000/x.xml."""
    root = sequence.parent / style
    for path in sorted(sequence.rglob("*.*")):
        folder, name = path.parent.name, path.name
        if style == "llvip":
            target = root / folder / ("train" if folder != "Annotations" else "") / name
        else:
            target = (
                root
                / ("Annotations/set00/V000" if folder == "Annotations" else f"set00/V000/{folder}")
                / name
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    records = load_paired(root, ["person"])
    prefix = "train/" if style == "llvip" else "set00/V000/"
    assert [r["frame_key"] for r in records] == [
        prefix + s for s in ("000001", "000002", "000003", "still")
    ]
    assert len(records[1]["annotations"]) == 1
    assert records[2]["event_reference"]["rgb"] == records[1]["modalities"]["rgb"]


def test_coco_json_annotations_match_frames_by_key(sequence):
    stems = ["000001", "000002", "000003", "still"]
    coco = {
        "images": [{"id": i, "file_name": f"visible/{s}.jpg"} for i, s in enumerate(stems)],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [2, 3, 10, 12]}],
        "categories": [{"id": 3, "name": "person"}],
    }
    (sequence / "train.json").write_text(json.dumps(coco))
    records = {
        r["frame_key"]: r for r in load_paired(sequence, ["person"], annotations="train.json")
    }
    assert records["000002"]["annotations"][0]["bbox"] == [2, 3, 12, 15]
    assert records["000001"]["annotations"] == []


def _corrupt(root):
    (root / "visible" / "000002.jpg").write_bytes(b"\xff\xd8 broken")


BAD_CASES = {
    "missing thermal": (
        lambda r: (r / "infrared" / "000002.png").unlink(),
        "000002",
        "no infrared partner",
    ),
    "orphan thermal": (
        lambda r: cv2.imwrite(str(r / "infrared" / "000009.png"), np.zeros((32, 48), np.uint8)),
        "000009.png",
        "has no RGB image",
    ),
    "size mismatch": (
        lambda r: cv2.imwrite(str(r / "infrared" / "000002.png"), np.zeros((16, 48), np.uint8)),
        "000002.png",
        "pixel-aligned",
    ),
    "missing xml": (lambda r: (r / "Annotations" / "000002.xml").unlink(), "000002.xml", "missing"),
    "unknown class": (
        lambda r: voc(r / "Annotations" / "000002.xml", [(1, 1, 9, 9)], name="dog"),
        "000002.xml",
        "'dog'",
    ),
    "box outside": (
        lambda r: voc(r / "Annotations" / "000002.xml", [(1, 1, 90, 9)]),
        "000002.xml",
        "outside",
    ),
    "xml size": (
        lambda r: voc(r / "Annotations" / "000002.xml", [], size=(64, 64)),
        "000002.xml",
        "declares",
    ),
    "broken xml": (
        lambda r: (r / "Annotations" / "000002.xml").write_text("<annotation>"),
        "000002.xml",
        "not valid XML",
    ),
    "corrupt image": (_corrupt, "000002.jpg", "not a readable image"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_problem_and_fix(sequence, case):
    damage, where, what = BAD_CASES[case]
    damage(sequence)
    with pytest.raises(DatasetError) as info:
        load_paired(sequence, ["person"])
    assert where in str(info.value) and what in str(info.value) and "Fix:" in str(info.value)


def test_skip_mode_keeps_the_good_frames(sequence):
    (sequence / "infrared" / "000002.png").unlink()
    records = load_paired(sequence, ["person"], skip_bad_samples=True)
    assert [r["frame_key"] for r in records] == ["000001", "000003", "still"]
    # 000003 no longer has 000002 as neighbour, and there is no 000004: no events.
    assert records[1]["event_reference"] is None


def test_conversion_to_layout1_keeps_frames_and_boxes(llvip_root, tmp_path):
    records = load_paired(llvip_root, ["person"])[:3]
    written = convert_to_npy_yolo(records, tmp_path, max_size=320, progress=False)
    assert written == 3
    converted = {
        r["frame_key"]: r
        for r in load_npy_yolo(tmp_path / "images", tmp_path / "labels", ["person"])
    }
    for record in records:
        out = converted[record["frame_key"]]
        assert (out["height"], out["width"]) == (256, 320)
        np.testing.assert_allclose(
            [a["bbox"] for a in out["annotations"]],
            [np.multiply(a["bbox"], 0.25) for a in record["annotations"]],
            atol=1e-3,
        )
    settings = json.loads((tmp_path / "conversion.json").read_text())
    assert settings["frames"] == 3 and settings["events"]["source"] == "rgb"


def test_conversion_at_full_size_is_lossless(sequence, tmp_path):
    records = load_paired(sequence, ["person"])
    convert_to_npy_yolo(records, tmp_path / "out", progress=False)
    for record in records:
        saved = np.load(tmp_path / "out" / "images" / f"{record['frame_key']}.npy")
        np.testing.assert_array_equal(saved, read_frame(record))
