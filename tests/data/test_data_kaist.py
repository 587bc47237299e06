"""The KAIST layout: its tree, bbGt v3 files or the benchmark json, image-set lists, day /
night, lwir as one channel, events from the neighbouring frame on disk, standard splits."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog

from projects_gaff.config import add_gaff_config
from projects_gaff.data import DatasetError, read_frame, register_datasets_from_config
from projects_gaff.data.kaist import daytime, kaist_json_records, load_kaist, parse_bbgt

W, H = 64, 48
HEADER = "% bbGt version=3\n"
FRAMES = {  # key: bbGt body
    "set00/V000/I00000": "person 10 8 12 30 0 0 0 0 0 0 0\n",
    "set00/V000/I00001": "person 10 8 12 30 1 0 0 0 0 0 0\npeople 30 10 20 20 0 0 0 0 0 0 0\n",
    "set00/V000/I00002": "",
    "set03/V001/I00004": (
        "cyclist 5 5 10 20 0\nperson? 40 5 10 20 2\nperson 20 6 8 25 2 0 0 0 0 1 0\n"
    ),
    "set06/V000/I00019": "person 10 8 12 30 0 0 0 0 0 0 0\n",
}


def kaist_tree(root: Path, frames: dict[str, str] = FRAMES) -> Path:
    """A tiny KAIST tree: images/setXX/VYYY/{visible,lwir}, annotations, imageSets."""
    images = root / "images"
    for number, (key, body) in enumerate(frames.items()):
        set_name, video, name = key.split("/")
        rgb = np.full((H, W, 3), 40 * number % 255, np.uint8)
        rgb[:, : W // 2, 0] = 200
        thermal = np.repeat(np.full((H, W, 1), 10 + 30 * number, np.uint8), 3, axis=2)
        for folder, image in (("visible", rgb), ("lwir", thermal)):
            (images / set_name / video / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(images / set_name / video / folder / f"{name}.jpg"), image)
        txt = root / "annotations" / f"{key}.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text(HEADER + body)
    (root / "imageSets").mkdir(exist_ok=True)
    keys = list(frames)
    (root / "imageSets" / "train.txt").write_text("\n".join(keys[:4]) + "\n")
    (root / "imageSets" / "test.txt").write_text(keys[4] + "\n" + keys[0] + "\n")
    return images


def load(images: Path, image_set: str = "../imageSets/train.txt", **kwargs):
    return load_kaist(images, image_set, ["person"], "../annotations", **kwargs)


def test_records_carry_the_protocol_fields_and_daytime(tmp_path):
    records = {r["frame_key"]: r for r in load(kaist_tree(tmp_path))}
    assert list(records) == list(FRAMES)[:4]
    first = records["set00/V000/I00000"]
    assert (first["height"], first["width"], first["daytime"]) == (H, W, "day")
    (ann,) = first["annotations"]
    assert ann["bbox"] == [10, 8, 22, 38] and ann["category_id"] == 0
    assert (ann["height"], ann["occlusion"], ann["ignore"], ann["iscrowd"]) == (30, 0, 0, 0)
    person, people = records["set00/V000/I00001"]["annotations"]
    assert person["occlusion"] == 1 and not person["ignore"]
    assert people["ignore"] == people["iscrowd"] == 1  # an ignore region
    night = records["set03/V001/I00004"]
    assert night["daytime"] == "night"
    # cyclist and person? are ignore regions; bbGt's own ign flag makes one too.
    assert [a["ignore"] for a in night["annotations"]] == [1, 1, 1]
    assert [a["occlusion"] for a in night["annotations"]] == [0, 2, 2]
    assert records["set00/V000/I00002"]["annotations"] == []  # a header alone: no persons


def test_lwir_is_one_channel_and_events_come_from_the_neighbour_frame_on_disk(tmp_path):
    images = kaist_tree(tmp_path)
    records = {r["frame_key"]: r for r in load(images, "../imageSets/test.txt")}
    # The test list samples frames; I00000's neighbour I00001 is on disk but not listed.
    first = records["set00/V000/I00000"]
    assert first["event_reference"]["rgb"].endswith("set00/V000/visible/I00001.jpg")
    assert records["set06/V000/I00019"]["event_reference"] is None  # no neighbour on disk
    frame = read_frame(first)
    assert frame.shape == (H, W, 5)
    assert abs(int(frame[..., 3].mean()) - 10) <= 2  # the grey lwir value, one channel
    assert frame[..., 4].any()  # the neighbour differs: events
    assert not read_frame(records["set06/V000/I00019"])[..., 4].any()
    unsequential = load(images, "../imageSets/test.txt", sequential=False)
    assert all(r["event_reference"] is None for r in unsequential)


def test_day_sets_are_overridable():
    assert daytime("set06/V000/I00019") == "day" and daytime("set09/V000/I00019") == "night"
    assert daytime("set06/V000/I00019", ("set09",)) == "night"


def test_json_annotation_source_and_records_without_images(tmp_path):
    images = kaist_tree(tmp_path)
    data = {
        "images": [{"id": 0, "im_name": "set06/V000/I00019", "height": H, "width": W}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "bbox": [3, 4, 10, 20], "height": 20,
             "occlusion": 1, "ignore": 1},
        ],
        "categories": [{"id": 0, "name": "__ignore__"}, {"id": 1, "name": "person"}],
    }  # fmt: skip
    json_file = tmp_path / "KAIST_annotation.json"
    json_file.write_text(json.dumps(data))
    (tmp_path / "imageSets" / "one.txt").write_text("set06/V000/I00019\n")
    (record,) = load_kaist(images, "../imageSets/one.txt", ["person"], json_file)
    (ann,) = record["annotations"]
    assert ann["bbox"] == [3, 4, 13, 24] and (ann["occlusion"], ann["ignore"]) == (1, 1)
    (bare,) = kaist_json_records(json_file)
    assert bare["frame_key"] == "set06/V000/I00019" and bare["daytime"] == "day"
    assert bare["annotations"] == record["annotations"]
    # A listed frame missing from the json is named.
    with pytest.raises(DatasetError, match="I00000"):
        load_kaist(images, "../imageSets/test.txt", ["person"], json_file)


def test_unknown_label_is_an_error_naming_file_and_line(tmp_path):
    txt = tmp_path / "I00000.txt"
    txt.write_text(HEADER + "person 1 2 3 4 0\ndog 1 2 3 4 0\n")
    with pytest.raises(DatasetError, match=r"I00000\.txt:3: has the unknown label 'dog'.*Fix:"):
        parse_bbgt(txt, ["person"])
    txt.write_text("person 1 2 3 4 0\n")
    with pytest.raises(DatasetError, match="bbGt version=3"):
        parse_bbgt(txt, ["person"])
    txt.write_text(HEADER + "person 1 2 x 4 0\n")
    with pytest.raises(DatasetError, match=r":2: has a field that is not a number"):
        parse_bbgt(txt, ["person"])
    txt.write_text(HEADER + "person 1 2 3 4 0 1\n")
    with pytest.raises(DatasetError, match=r":2: has 7 fields"):
        parse_bbgt(txt, ["person"])


def test_image_set_naming_a_missing_frame_is_an_error_naming_the_list_line(tmp_path):
    images = kaist_tree(tmp_path)
    listing = tmp_path / "imageSets" / "bad.txt"
    listing.write_text("set00/V000/I00000\nset00/V000/I00099\n")
    with pytest.raises(DatasetError, match=r"bad\.txt:2: names frame set00/V000/I00099.*Fix:"):
        load(images, "../imageSets/bad.txt")
    listing.write_text("set00/V000/I00000\nnot a key\n")
    with pytest.raises(DatasetError, match=r"bad\.txt:2: is not a KAIST frame key"):
        load(images, "../imageSets/bad.txt")
    with pytest.raises(DatasetError, match="image-set list does not exist"):
        load(images, "../imageSets/none.txt")


def test_registered_from_config_with_the_standard_splits(tmp_path):
    images = kaist_tree(tmp_path)
    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_file(str(Path(__file__).parents[2] / "configs/kaist/Base-KAIST.yaml"))
    cfg.merge_from_list(
        ["DATASETS.GAFF.NAME", "kaist_tiny", "DATASETS.GAFF.ROOT", str(images),
         "DATASETS.GAFF.KAIST.TRAIN_SET", "../imageSets/train.txt",
         "DATASETS.GAFF.KAIST.TEST_SET", "../imageSets/test.txt",
         "DATASETS.GAFF.KAIST.TEST_ANNOTATIONS", "",
         "DATASETS.GAFF.SPLIT_FRACTIONS", "[1.0, 0.0, 0.0]"]
    )  # fmt: skip
    assert cfg.TEST.SELECT_METRIC == "MR_reasonable_all"
    names = register_datasets_from_config(cfg)
    assert names == [f"kaist_tiny_{s}" for s in ("train", "val", "test", "all")]
    test = DatasetCatalog.get("kaist_tiny_test")
    # In list order, image_id = position: the result-file index is image_id + 1.
    assert [(r["frame_key"], r["image_id"]) for r in test] == [
        ("set06/V000/I00019", 0),
        ("set00/V000/I00000", 1),
    ]
    assert len(DatasetCatalog.get("kaist_tiny_train")) == 4
    with pytest.raises(DatasetError, match="val split is empty"):
        DatasetCatalog.get("kaist_tiny_val")
    everything = DatasetCatalog.get("kaist_tiny_all")
    assert [r["image_id"] for r in everything] == list(range(6))


def test_test_folder_gives_llvip_its_own_test_split(tmp_path):
    """Paired layout with visible/train + visible/test (LLVIP): the folder decides test."""
    root = tmp_path / "LLVIP"
    (root / "Annotations").mkdir(parents=True)
    for split, names in (("train", ["010001", "010002", "010003"]), ("test", ["190001"])):
        for name in names:
            for folder in ("visible", "infrared"):
                (root / folder / split).mkdir(parents=True, exist_ok=True)
                image = np.full((H, W, 3), 90, np.uint8)
                cv2.imwrite(str(root / folder / split / f"{name}.jpg"), image)
            (root / "Annotations" / f"{name}.xml").write_text(
                "<annotation><object><name>person</name><bndbox><xmin>5</xmin><ymin>5</ymin>"
                "<xmax>20</xmax><ymax>40</ymax></bndbox></object></annotation>"
            )
    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_file(str(Path(__file__).parents[2] / "configs/llvip/Base-LLVIP.yaml"))
    cfg.merge_from_list(
        ["DATASETS.GAFF.NAME", "llvip_tiny", "DATASETS.GAFF.ROOT", str(root),
         "DATASETS.GAFF.SPLIT_FRACTIONS", "[1.0, 0.0, 0.0]"]
    )  # fmt: skip
    assert cfg.TEST.SELECT_METRIC == "AP50"
    register_datasets_from_config(cfg)
    test = DatasetCatalog.get("llvip_tiny_test")
    assert [r["frame_key"] for r in test] == ["test/190001"]
    train = DatasetCatalog.get("llvip_tiny_train")
    assert sorted(r["frame_key"] for r in train) == ["train/010001", "train/010002", "train/010003"]
    assert len(DatasetCatalog.get("llvip_tiny_all")) == 4
