"""Truncated and corrupt image files: OpenCV decodes a cut JPEG without an error (grey
rows), so every layout and modality must catch them, at registration and at read time."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from projects_gaff.data import (
    DatasetError,
    GAFFDatasetMapper,
    load_coco_multimodal,
    load_paired,
    read_frame,
)
from projects_gaff.data.frames import check_complete_image


def _cut(path: Path, keep: float = 1 / 3) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _textured(shape) -> np.ndarray:
    # Noise: a flat image compresses to a few hundred bytes, too few to cut meaningfully.
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def paired(tmp_path) -> Path:
    """Four frames: visible JPEG, infrared PNG, event JPEG, VOC annotations."""
    for folder in ("visible", "infrared", "event", "Annotations"):
        (tmp_path / folder).mkdir()
    for n in range(4):
        stem = f"{n:06d}"
        cv2.imwrite(str(tmp_path / "visible" / f"{stem}.jpg"), _textured((48, 64, 3)))
        cv2.imwrite(str(tmp_path / "infrared" / f"{stem}.png"), _textured((48, 64)))
        cv2.imwrite(str(tmp_path / "event" / f"{stem}.jpg"), _textured((48, 64)))
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(
            "<annotation><size><width>64</width><height>48</height></size></annotation>"
        )
    return tmp_path


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp"])
def test_complete_files_pass_and_cut_ones_fail(tmp_path, suffix):
    path = tmp_path / f"frame{suffix}"
    cv2.imwrite(str(path), _textured((40, 56, 3)))
    check_complete_image(path)
    # Data after the end marker (padding, camera trailers) is not truncation.
    padded = tmp_path / f"padded{suffix}"
    padded.write_bytes(path.read_bytes() + b"\0\0trailer")
    check_complete_image(padded)
    with pytest.raises(DatasetError, match=r"is truncated or corrupt.*Fix: copy"):
        check_complete_image(_cut(path))
    # What the check exists for: OpenCV itself accepts the cut JPEG.
    if suffix == ".jpg":
        assert cv2.imread(str(path)) is not None


@pytest.mark.parametrize(
    "modality", ["visible/000002.jpg", "infrared/000002.png", "event/000002.jpg"]
)
def test_paired_layout_names_the_truncated_file(paired, modality):
    victim = _cut(paired / modality)
    with pytest.raises(DatasetError) as info:
        load_paired(paired, ["person"])
    message = str(info.value)
    assert str(victim) in message and "truncated" in message
    assert "\n" not in message  # one bad sample: one line
    assert "SKIP_BAD_SAMPLES" in message


def test_paired_skip_mode_skips_and_logs(paired, caplog):
    victim = _cut(paired / "visible" / "000002.jpg")
    with caplog.at_level(logging.WARNING, logger="projects_gaff.data"):
        records = load_paired(paired, ["person"], skip_bad_samples=True)
    assert [r["frame_key"] for r in records] == ["000000", "000001", "000003"]
    assert str(victim) in caplog.text and "Skipped 1 of 4 samples" in caplog.text


def test_coco_layout_names_the_truncated_file(paired):
    images = [
        {
            "id": n,
            "width": 64,
            "height": 48,
            "modalities": {
                "rgb": f"visible/{n:06d}.jpg",
                "thermal": f"infrared/{n:06d}.png",
            },
        }
        for n in range(4)
    ]
    index = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    (paired / "coco.json").write_text(json.dumps(index))
    victim = _cut(paired / "infrared" / "000001.png")
    with pytest.raises(DatasetError, match="truncated") as info:
        load_coco_multimodal(paired / "coco.json", ["person"])
    assert str(victim) in str(info.value)


def test_file_cut_after_registration_fails_at_read_time(paired, caplog):
    records = load_paired(paired, ["person"])
    victim = _cut(paired / "event" / "000001.jpg")
    with pytest.raises(DatasetError, match="truncated") as info:
        read_frame(records[1])
    assert str(victim) in str(info.value)
    assert read_frame(records[0]).shape == (48, 64, 5)
    # Training with SKIP_BAD_SAMPLES: the mapper skips the frame (Detectron2 draws another)
    # and logs it; evaluation never skips.
    mapper = GAFFDatasetMapper(is_train=True, augmentations=[], skip_bad_samples=True)
    with caplog.at_level(logging.WARNING, logger="projects_gaff.data"):
        assert mapper(records[1]) is None
    assert str(victim) in caplog.text
    with pytest.raises(DatasetError):
        GAFFDatasetMapper(is_train=False, augmentations=[], skip_bad_samples=True)(records[1])
