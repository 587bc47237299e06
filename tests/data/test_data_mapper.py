"""The 5-channel mapper: channel order and scale, shared geometry, no upscaling, dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from projects_gaff.config import add_gaff_config
from projects_gaff.data import DatasetError, GAFFDatasetMapper, write_npy_yolo

CHANNEL_VALUES = [10, 20, 30, 40, 50]  # R, G, B, thermal, event


def data_cfg(*opts) -> CfgNode:
    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_list(["INPUT.RANDOM_FLIP", "none", *opts])
    return cfg


@pytest.fixture
def record(tmp_path) -> dict:
    """A 100x200 frame: channel c is CHANNEL_VALUES[c] + a horizontal ramp shared by all."""
    ramp = np.arange(200, dtype=np.uint8)[None, :, None] // 2
    frame = (np.array(CHANNEL_VALUES, np.uint8) + ramp).repeat(100, axis=0)
    box = {"bbox": [20.0, 10.0, 60.0, 90.0], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0}
    write_npy_yolo(tmp_path, tmp_path, "f", frame, [box])
    return {
        "file_name": str(tmp_path / "f.npy"),
        "image_id": 0,
        "frame_key": "f",
        "height": 100,
        "width": 200,
        "annotations": [box],
    }


def test_channels_in_order_on_the_0_255_scale(record):
    out = GAFFDatasetMapper(data_cfg(), is_train=True)(record)
    image = out["image"]
    assert image.dtype == torch.float32 and image.shape == (5, 100, 200)
    assert image[:, 0, 0].tolist() == CHANNEL_VALUES  # not divided by 255
    assert out["instances"].gt_boxes.tensor.tolist() == [[20, 10, 60, 90]]
    assert out["instances"].gt_classes.tolist() == [0]


@pytest.mark.parametrize(
    "aux, expected",
    [
        (["thermal"], [10, 20, 30, 40]),
        (["event"], [10, 20, 30, 50]),
        (["event", "thermal"], [10, 20, 30, 50, 40]),
        ([], [10, 20, 30]),
    ],
)
def test_aux_channel_subsets_are_selected_by_name(record, aux, expected):
    out = GAFFDatasetMapper(data_cfg("MODEL.MIT.AUX_CHANNELS", aux), is_train=False)(record)
    assert out["image"][:, 0, 0].tolist() == expected


def test_unknown_aux_channel_is_rejected():
    with pytest.raises(ValueError, match="aux channels"):
        GAFFDatasetMapper(data_cfg("MODEL.MIT.AUX_CHANNELS", ["depth"]), is_train=False)


def test_resize_applies_to_every_channel_and_the_boxes(record):
    cfg = data_cfg("INPUT.MIN_SIZE_TRAIN", (50,), "INPUT.MAX_SIZE_TRAIN", 1000)
    out = GAFFDatasetMapper(cfg, is_train=True)(record)
    image = out["image"]
    assert image.shape == (5, 50, 100)
    offsets = image - torch.tensor(CHANNEL_VALUES, dtype=torch.float32)[:, None, None]
    for channel in offsets[1:]:  # every modality got the very same resampling
        torch.testing.assert_close(channel, offsets[0])
    torch.testing.assert_close(
        out["instances"].gt_boxes.tensor, torch.tensor([[10.0, 5.0, 30.0, 45.0]])
    )


def test_small_frames_are_not_upscaled_unless_asked(record):
    cfg = data_cfg("INPUT.MIN_SIZE_TEST", 800)
    assert GAFFDatasetMapper(cfg, is_train=False)(record)["image"].shape == (5, 100, 200)
    cfg.INPUT.GAFF.UPSCALE = True
    assert GAFFDatasetMapper(cfg, is_train=False)(record)["image"].shape == (
        5,
        667,
        1333,
    )  # MAX_SIZE_TEST caps the long edge
    cfg = data_cfg("INPUT.MIN_SIZE_TEST", 50)  # shrinking still works without UPSCALE
    assert GAFFDatasetMapper(cfg, is_train=False)(record)["image"].shape == (5, 50, 100)


def test_flip_mirrors_every_channel_and_the_boxes(record):
    mapper = GAFFDatasetMapper(is_train=True, augmentations=[T.RandomFlip(prob=1.0)])
    plain = GAFFDatasetMapper(is_train=True, augmentations=[])
    flipped, original = mapper(record), plain(record)
    torch.testing.assert_close(flipped["image"], original["image"].flip(-1))
    assert flipped["instances"].gt_boxes.tensor.tolist() == [[140, 10, 180, 90]]


def test_modality_dropout_zeroes_exactly_one_modality(record):
    mapper = GAFFDatasetMapper(data_cfg("INPUT.GAFF.MODALITY_DROPOUT", 1.0), is_train=True)
    np.random.seed(0)
    dropped = set()
    for _ in range(30):
        image = mapper(record)["image"]
        zero = [c for c in range(5) if not image[c].any()]
        assert zero in ([0, 1, 2], [3], [4])
        dropped.add(tuple(zero))
    assert len(dropped) == 3
    evaluation = GAFFDatasetMapper(data_cfg("INPUT.GAFF.MODALITY_DROPOUT", 1.0), is_train=False)
    assert evaluation(record)["image"].flatten(1).any(1).all()  # never at test time


def test_inference_drops_annotations(record):
    out = GAFFDatasetMapper(data_cfg(), is_train=False)(record)
    assert "annotations" not in out and "instances" not in out


def test_bad_sample_skipped_in_training_only_when_asked(record, tmp_path):
    np.save(record["file_name"], np.zeros((100, 200, 4), np.uint8))
    with pytest.raises(DatasetError, match="shape"):
        GAFFDatasetMapper(data_cfg(), is_train=True)(record)
    skipping = data_cfg("DATASETS.GAFF.SKIP_BAD_SAMPLES", True)
    assert GAFFDatasetMapper(skipping, is_train=True)(record) is None
    with pytest.raises(DatasetError):  # evaluation must see every frame
        GAFFDatasetMapper(skipping, is_train=False)(record)


def test_changed_frame_size_is_caught(record):
    record["height"] = 99
    with pytest.raises(DatasetError, match="re-register"):
        GAFFDatasetMapper(data_cfg(), is_train=False)(record)


def test_detectron2_loaders_batch_the_demo_set():
    cfg = data_cfg(
        "DATASETS.TRAIN",
        ("gaff_demo_train",),
        "SOLVER.IMS_PER_BATCH",
        4,
        "DATALOADER.NUM_WORKERS",
        0,
        "INPUT.RANDOM_FLIP",
        "horizontal",
    )
    batch = next(iter(build_detection_train_loader(cfg, mapper=GAFFDatasetMapper(cfg, True))))
    assert len(batch) == 4
    assert all(item["image"].shape == (5, 160, 192) for item in batch)
    test_loader = build_detection_test_loader(
        cfg, "gaff_demo_val", mapper=GAFFDatasetMapper(cfg, False)
    )
    assert next(iter(test_loader))[0]["image"].shape == (5, 160, 192)
