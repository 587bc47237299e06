"""Splits and registration: seeded hash splits, config-named datasets, split records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from detectron2.config import CfgNode, get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import convert_to_coco_dict
from detectron2.structures import BoxMode

from projects_gaff.config import add_gaff_config
from projects_gaff.data import (
    DatasetError,
    register_datasets_from_config,
    register_gaff_dataset,
    save_split_manifest,
    select_split,
    split_of,
    write_npy_yolo,
)
from projects_gaff.data.splits import split_group


def data_cfg(*opts) -> CfgNode:
    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_list(list(opts))
    return cfg


def test_split_is_seeded_and_close_to_the_fractions():
    keys = [f"frame_{i:05d}" for i in range(5000)]
    splits = [split_of(k) for k in keys]
    assert splits == [split_of(k) for k in keys]  # deterministic
    shares = {s: splits.count(s) / len(keys) for s in ("train", "val", "test")}
    assert shares == pytest.approx({"train": 0.7, "val": 0.1, "test": 0.2}, abs=0.02)
    assert splits != [split_of(k, seed=1) for k in keys]
    guide = [split_of(k, (0.8, 0.2)) for k in keys]  # the guide's train/test
    assert "val" not in guide and guide.count("train") / len(keys) == pytest.approx(0.8, abs=0.02)


def test_split_of_a_frame_does_not_move_when_files_are_added():
    records = [{"frame_key": f"f{i}"} for i in range(200)]
    before = {r["frame_key"] for r in select_split(records, "test")}
    more = [{"frame_key": f"new{i}"} for i in range(300)] + records[::-1]
    after = {r["frame_key"] for r in select_split(more, "test")}
    assert before == after & before and before <= after


def test_sequence_split_keeps_a_sequence_together():
    keys = [f"set0{s}/V000/I{i:05d}" for s in range(6) for i in range(20)]
    for s in range(6):
        groups = {split_group(k, "sequence") for k in keys if k.startswith(f"set0{s}/")}
        assert len(groups) == 1
        assert (
            len({split_of(split_group(k, "sequence")) for k in keys if k.startswith(f"set0{s}/")})
            == 1
        )


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.9, -0.1, 0.2), (1.0,)])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="fractions"):
        split_of("x", fractions)


@pytest.fixture
def layout1(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    ann = {"bbox": [2, 2, 12, 14], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0}
    for i in range(40):
        write_npy_yolo(
            images, labels, f"f{i:03d}", np.zeros((20, 24, 5), np.uint8), [ann] * (i % 2)
        )
    return images, labels


def test_config_names_and_registers_a_dataset(layout1, tmp_path):
    images, labels = layout1
    cfg = data_cfg(
        "DATASETS.GAFF.NAME",
        "mine",
        "DATASETS.GAFF.IMAGES",
        str(images),
        "DATASETS.GAFF.LABELS",
        str(labels),
        "DATASETS.GAFF.SPLIT_SEED",
        3,
    )
    names = register_datasets_from_config(cfg)
    assert names == ["mine_train", "mine_val", "mine_test", "mine_all"]
    meta = MetadataCatalog.get("mine_val")
    assert meta.thing_classes == ["person"] and meta.evaluator_type == "coco"
    assert meta.split_fractions == [0.7, 0.1, 0.2] and meta.split_seed == 3
    parts = {n: [r["frame_key"] for r in DatasetCatalog.get(n)] for n in names}
    together = parts["mine_train"] + parts["mine_val"] + parts["mine_test"]
    assert sorted(together) == sorted(parts["mine_all"]) and len(set(together)) == 40
    # Detectron2's COCO evaluator can convert the dicts (int image ids, XYXY boxes).
    coco = convert_to_coco_dict("mine_all")
    assert len(coco["images"]) == 40 and len(coco["annotations"]) == 20

    manifest = save_split_manifest(["mine_train", "mine_test"], tmp_path / "out" / "splits.json")
    on_disk = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert on_disk == manifest and on_disk["mine_test"]["frames"] == parts["mine_test"]
    assert on_disk["mine_train"]["seed"] == 3

    # Registering again replaces the old entry instead of failing.
    cfg.DATASETS.GAFF.SPLIT_FRACTIONS = [0.8, 0.2]
    register_datasets_from_config(cfg)
    assert len(DatasetCatalog.get("mine_train")) > len(parts["mine_train"])
    with pytest.raises(DatasetError, match=r"mine_val.*val split is empty"):
        DatasetCatalog.get("mine_val")


def test_returned_dicts_are_copies(layout1):
    register_gaff_dataset(
        "copies", lambda: [{"frame_key": "a", "annotations": []}], ["person"], (1, 0, 0)
    )
    DatasetCatalog.get("copies_train")[0]["annotations"].append("changed")
    assert DatasetCatalog.get("copies_train")[0]["annotations"] == []


def test_empty_name_registers_nothing_and_bad_layout_fails():
    assert register_datasets_from_config(data_cfg()) == []
    with pytest.raises(ValueError, match="LAYOUT"):
        register_datasets_from_config(
            data_cfg("DATASETS.GAFF.NAME", "x", "DATASETS.GAFF.LAYOUT", "voc")
        )


def test_paired_layout_from_config_split_by_sequence(llvip_root):
    cfg = data_cfg(
        "DATASETS.GAFF.NAME",
        "llvip",
        "DATASETS.GAFF.LAYOUT",
        "paired",
        "DATASETS.GAFF.ROOT",
        str(llvip_root),
        "DATASETS.GAFF.SPLIT_BY",
        "sequence",
    )
    register_datasets_from_config(cfg)
    # One night sequence: split by sequence puts all 30 frames in one split.
    sizes = {
        s: len(select_split(DatasetCatalog.get("llvip_all"), s, by="sequence"))
        for s in ("train", "val", "test")
    }
    assert sorted(sizes.values()) == [0, 0, 30]
