"""The demo set: deterministic, lazily generated, and built so that fusion matters."""

from __future__ import annotations

import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from projects_gaff.data import (
    DEMO_CLASSES,
    generate_demo,
    load_npy_yolo,
    register_demo_datasets,
    render_demo_frame,
)
from projects_gaff.data import demo as demo_module


def test_frames_are_deterministic_per_seed_and_index():
    a, boxes_a, kinds_a = render_demo_frame(0, 5)
    b, boxes_b, kinds_b = render_demo_frame(0, 5)
    np.testing.assert_array_equal(a, b)
    assert boxes_a == boxes_b and kinds_a == kinds_b
    assert not np.array_equal(a, render_demo_frame(1, 5)[0])
    assert a.shape == (160, 192, 5) and a.dtype == np.uint8


def test_generated_set_is_layout1_with_negatives(tmp_path):
    info = generate_demo(tmp_path, seed=0, frames=30)
    records = load_npy_yolo(tmp_path / "images", tmp_path / "labels", DEMO_CLASSES)
    assert len(records) == 30
    assert any(not r["annotations"] for r in records)  # negatives are part of the set
    heights = [a["bbox"][3] - a["bbox"][1] for r in records for a in r["annotations"]]
    assert min(heights) >= 16 and max(heights) <= 70  # learnable sizes
    assert json.loads((tmp_path / "demo.json").read_text()) == info
    assert sum(info["persons_by_kind"].values()) == len(heights)


def test_each_kind_of_person_is_seen_by_the_modalities_it_should():
    """Thermal-only persons are warm and silent in events; event-only ones are ambient in
    thermal but fire events; so no single modality finds every person."""
    stats = {"all": [], "thermal": [], "event": []}
    for index in range(60):
        frame, annotations, kinds = render_demo_frame(7, index)
        ambient = np.median(frame[..., 3])
        for ann, kind in zip(annotations, kinds, strict=True):
            x0, y0, x1, y1 = (round(v) for v in ann["bbox"])
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            torso = frame[cy - 2 : cy + 3, cx - 1 : cx + 2]
            warmth = float(torso[..., 3].mean()) - ambient
            firing = float((frame[y0:y1, x0:x1, 4] > 0).mean())
            stats[kind].append((warmth, firing))
    warm = {k: np.array(v)[:, 0] for k, v in stats.items()}
    fire = {k: np.array(v)[:, 1] for k, v in stats.items()}
    assert all(len(v) >= 15 for v in warm.values())
    assert (warm["thermal"] > 40).all() and (warm["all"] > 40).all()
    assert np.median(np.abs(warm["event"])) < 15
    # Box fractions with events; a static person's box only catches noise or a neighbour.
    assert np.quantile(fire["event"], 0.1) > 0.1
    assert np.quantile(fire["thermal"], 0.8) < 0.01


def test_demo_names_are_registered_and_generated_on_first_use(tmp_path, monkeypatch):
    assert {"gaff_demo_train", "gaff_demo_val", "gaff_demo_test"} <= set(DatasetCatalog.list())
    assert MetadataCatalog.get("gaff_demo_train").thing_classes == ["person"]
    monkeypatch.setattr(demo_module, "DEMO_FRAMES", 20)
    try:
        register_demo_datasets(tmp_path)
        assert not (tmp_path / "cache").exists()  # registering generates nothing
        parts = [DatasetCatalog.get(f"gaff_demo_{s}") for s in ("train", "val", "test")]
        assert sum(len(p) for p in parts) == 20
        assert len({r["frame_key"] for p in parts for r in p}) == 20
        (folder,) = (tmp_path / "cache").iterdir()
        assert folder.name == f"gaff_demo_{demo_module.DEMO_VERSION}_seed0_n20"
        assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left
    finally:
        monkeypatch.undo()
        register_demo_datasets()


@pytest.mark.parametrize(
    "split, count", [("gaff_demo_train", 269), ("gaff_demo_val", 54), ("gaff_demo_test", 77)]
)
def test_default_demo_split_sizes(split, count):
    assert len(DatasetCatalog.get(split)) == count
