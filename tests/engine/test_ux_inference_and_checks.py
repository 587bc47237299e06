"""The normalisation check hook, the predictors (ours and Detectron2's stock one on five
channels), the prediction PNGs and plain progress lines in redirected output."""

from __future__ import annotations

import io
import logging

import cv2
import numpy as np
import pytest
import torch
from conftest import QUICK, TINY_OPTS_BASE, make_cfg
from detectron2.structures import Boxes, Instances

from projects_gaff.data import GAFFDatasetMapper, channel_statistics, generate_demo, load_npy_yolo
from projects_gaff.engine.normalisation_check import NormalisationCheck
from projects_gaff.engine.prediction import _draw_labels, _overlap, side_by_side
from projects_gaff.progress import progress

NAMES = ["r", "g", "b", "thermal", "event"]


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, seed=5, frames=6)
    return load_npy_yolo(root / "images", root / "labels", ["person"])


def _loader(records: list[dict]) -> list[list[dict]]:
    mapper = GAFFDatasetMapper(is_train=False, augmentations=[])
    mapped = [mapper(r) for r in records]
    return [mapped[i : i + 2] for i in range(0, len(mapped), 2)]


def test_normalisation_check_warns_only_for_the_channel_that_does_not_fit(demo_records, caplog):
    stats = channel_statistics(demo_records)
    loader = _loader(demo_records)
    fitting = NormalisationCheck(loader, stats["mean"], stats["std"], NAMES, batches=3)
    assert fitting.check() == []
    mean, _, frames = fitting.measure()
    np.testing.assert_allclose(mean, stats["mean"], atol=0.01)  # what dataset_summary says
    assert frames == 6

    # LLVIP's event statistics on the demo set (whose event channel is mostly 0): the
    # normalised event channel has std ~0.1.
    wrong_mean = [*stats["mean"][:4], 75.9]
    wrong_std = [*stats["std"][:4], 90.5]
    check = NormalisationCheck(loader, wrong_mean, wrong_std, NAMES, batches=3)
    with caplog.at_level(logging.WARNING, logger="projects_gaff.engine"):
        check.before_train()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0]
    assert "'event'" in message and "tools/dataset_summary.py" in message
    assert f"measured mean {stats['mean'][4]:.1f}" in message
    assert "configured mean 75.9, std 90.5" in message

    shifted = [*stats["mean"][:3], stats["mean"][3] + 4 * stats["std"][3], stats["mean"][4]]
    (warning,) = NormalisationCheck(loader, shifted, stats["std"], NAMES).check()
    assert "'thermal'" in warning and "normalised channel has mean -4.00" in warning


def test_normalisation_check_from_config_reads_the_training_frames(tiny_dataset):
    from projects_gaff.engine import setup_cfg

    zero_one = ["MODEL.PIXEL_MEAN", "[0, 0, 0, 0]", "MODEL.PIXEL_STD", "[1, 1, 1, 1]"]
    cfg = setup_cfg(QUICK, [*tiny_dataset, "MODEL.MIT.AUX_CHANNELS", "['thermal']", *zero_one])
    check = NormalisationCheck.from_config(cfg, batches=1)
    assert check.channel_names == ["r", "g", "b", "thermal"]
    torch.manual_seed(7)
    np.random.seed(7)
    expected = (torch.rand(1), np.random.rand())
    torch.manual_seed(7)
    np.random.seed(7)
    warnings = check.check()
    assert len(warnings) == 4 and all("does not fit the data" in w for w in warnings)
    assert (torch.rand(1), np.random.rand()) == expected  # the training RNG is untouched


def test_normalisation_check_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="one of each per input channel"):
        NormalisationCheck([], [0.0] * 5, [1.0] * 4, NAMES)


def _random_model_cfg(*opts: str):
    return make_cfg(
        QUICK, *TINY_OPTS_BASE, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
        "INPUT.GAFF.UPSCALE", "True", *opts,
    )  # fmt: skip


@pytest.mark.slow
def test_stock_default_predictor_works_on_a_prepared_frame(demo_records):
    from detectron2.engine import DefaultPredictor

    from projects_gaff.data import read_frame
    from projects_gaff.engine import GAFFPredictor
    from projects_gaff.engine.predictor import default_predictor_input

    torch.manual_seed(0)
    cfg = _random_model_cfg()
    ours = GAFFPredictor(cfg)
    stock = DefaultPredictor(cfg)
    stock.model.load_state_dict(ours.model.state_dict())
    frame = read_frame(demo_records[0])
    with pytest.raises(TypeError):  # PIL, on the raw (H, W, 5) uint8 frame
        stock(frame)
    expected = ours(frame)["instances"]
    got = stock(default_predictor_input(frame, cfg))["instances"]
    assert len(expected) > 0
    torch.testing.assert_close(got.scores, expected.scores)
    torch.testing.assert_close(got.pred_boxes.tensor, expected.pred_boxes.tensor)


def test_predictor_says_which_shapes_it_takes():
    from projects_gaff.engine.predictor import check_frame

    with pytest.raises(ValueError) as five:
        check_frame(np.zeros((4, 4, 2), np.uint8), [0, 1, 2, 3, 4])
    assert "expected (H, W, 5) in the order r/g/b/thermal/event" in str(five.value)
    assert "or (H, W, 5)" not in str(five.value)
    with pytest.raises(ValueError, match=r"or \(H, W, 4\) with only the model's channels"):
        check_frame(np.zeros((4, 4, 2), np.uint8), [0, 1, 2, 3])


def _instances(boxes: list[list[float]], scores: list[float], size) -> Instances:
    return Instances(size, pred_boxes=Boxes(torch.tensor(boxes)), scores=torch.tensor(scores))


def test_png_panels_and_labels_that_do_not_overlap(tmp_path):
    frame = np.zeros((160, 200, 5), np.uint8)
    frame[:, :, 0] = 200
    frame[:, :, 3] = 90
    boxes = [[40, 40, 100, 120], [42, 41, 101, 121], [44, 40, 99, 118]]  # near-duplicates
    instances = _instances(boxes, [0.91, 0.87, 0.55], frame.shape[:2])
    without_events = side_by_side(frame, instances, 0.5)
    assert without_events.shape == (320, 2 * 400 + 4, 3)
    frame[50:60, 50:60, 4] = 255
    picture = side_by_side(frame, instances, 0.5)
    assert picture.shape == (320, 3 * 400 + 2 * 4, 3)
    # The third panel shows the event channel: bright where the events are, dark elsewhere.
    event_panel = picture[:, 2 * 404 :]
    assert event_panel[110, 110].tolist() == [255, 255, 255]
    assert event_panel[300, 300].tolist() == [0, 0, 0]
    cv2.imwrite(str(tmp_path / "look.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))

    taken = _draw_labels(np.zeros((320, 400, 3), np.uint8), [[2 * v for v in b] for b in boxes],
                         [0.91, 0.87, 0.55])  # fmt: skip
    assert len(taken) == 3
    assert not any(_overlap(a, b) for i, a in enumerate(taken) for b in taken[i + 1 :])


def test_progress_prints_plain_lines_when_not_on_a_terminal():
    out = io.StringIO()
    assert list(progress(range(20), "predict", "frame", file=out)) == list(range(20))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("predict: 2/20 frames") and lines[-1].startswith("predict: 20/20")
    assert len(lines) == 10
    quiet = io.StringIO()
    assert list(progress(iter([1, 2]), "x", file=quiet, enabled=False)) == [1, 2]
    assert quiet.getvalue() == ""
