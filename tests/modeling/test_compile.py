"""MODEL.COMPILE: the encoder compiles in place and computes what the eager model does.

The suite compiles with the "eager" backend (dynamo's graph capture without inductor's
code generation, seconds instead of minutes on 2 cores); inductor itself is measured by
tools/benchmark.py --compile both (BENCHMARKS.md).
"""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, QUICK, make_cfg
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

from projects_gaff.data import read_frame
from projects_gaff.engine import GAFFPredictor, GAFFTrainer, count_gflops, setup_cfg
from projects_gaff.engine.compile import eager, is_compiled

COMPILE_EAGER = ["MODEL.COMPILE.ENABLED", "True", "MODEL.COMPILE.BACKEND", "eager"]


def _model(*opts: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return GAFFTrainer.build_model(make_cfg(CONFIGS / "gaff_s23.yaml", *opts))


@pytest.mark.slow
def test_compile_is_off_by_default_and_in_place_when_on():
    plain, compiled = _model(), _model(*COMPILE_EAGER)
    assert not is_compiled(plain)
    assert is_compiled(compiled) and is_compiled(compiled.backbone.bottom_up)
    assert not is_compiled(compiled.roi_heads)  # only the encoder
    # Same parameter names: checkpoints load either way.
    assert list(compiled.state_dict()) == list(plain.state_dict())


@pytest.mark.slow
def test_compiled_encoder_matches_eager_and_trains():
    model = _model(*COMPILE_EAGER).eval()
    x = torch.randn(2, 5, 64, 96)
    bottom_up = model.backbone.bottom_up
    with torch.no_grad():
        compiled = bottom_up(x)
        with eager(model):
            assert not is_compiled(model)
            reference = bottom_up(x)
    assert is_compiled(model)  # restored after the block
    for name in reference:
        torch.testing.assert_close(compiled[name], reference[name])

    model.train()
    image = torch.rand(5, 64, 96) * 255
    with EventStorage():
        losses = model([{"image": image, "instances": _one_box(64, 96)}])
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in bottom_up.parameters())


@pytest.mark.slow
def test_gflops_are_counted_through_a_compiled_encoder():
    """fvcore's tracer refuses compiled code; count_gflops must still give the eager count."""
    plain = count_gflops(_model(), 5, 64, 96)
    assert plain is not None and plain > 0
    assert count_gflops(_model(*COMPILE_EAGER), 5, 64, 96) == plain


@pytest.mark.slow
def test_compiled_predictor_gives_the_eager_predictions(finished_run, tiny_dataset):
    weights = str(finished_run / "checkpoints" / "best_model.pth")
    # The tiny run is barely trained: keep every detection so there are boxes to compare.
    opts = [*tiny_dataset, "MODEL.WEIGHTS", weights, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
    plain = GAFFPredictor(setup_cfg(QUICK, opts, resolve=False))  # registers tiny_*
    frame = read_frame(DatasetCatalog.get("tiny_test")[0])
    compiled = GAFFPredictor(setup_cfg(QUICK, [*opts, *COMPILE_EAGER], resolve=False))
    assert is_compiled(compiled.model) and not is_compiled(plain.model)
    expected, got = plain(frame)["instances"], compiled(frame)["instances"]
    assert len(expected) > 0
    torch.testing.assert_close(got.pred_boxes.tensor, expected.pred_boxes.tensor)
    torch.testing.assert_close(got.scores, expected.scores)


def _one_box(height: int, width: int):
    from detectron2.structures import Boxes, Instances

    instances = Instances((height, width))
    instances.gt_boxes = Boxes(torch.tensor([[8.0, 8.0, 40.0, 56.0]]))
    instances.gt_classes = torch.tensor([0])
    return instances


@pytest.mark.parametrize(
    "opts, message",
    [
        (("MODEL.COMPILE.BACKEND", "nope"), "BACKEND 'nope' is not one of"),
        (("MODEL.COMPILE.MODE", "fast"), "MODE 'fast' is not one of"),
        (("MODEL.COMPILE.BACKEND", "eager", "MODEL.COMPILE.MODE", "max-autotune"), "inductor"),
        # torch.compile does not guard on module hooks: a graph captured without GuidedRCNN's
        # per-step hooks (e.g. by an earlier model in the process) would skip the loss
        (
            ("MODEL.META_ARCHITECTURE", "GuidedRCNN", "MODEL.GAFF.GUIDANCE_WEIGHT", "0.1"),
            "guidance loss",
        ),
    ],
)
def test_compile_settings_are_checked(opts, message):
    with pytest.raises(ValueError, match=message):
        _model("MODEL.COMPILE.ENABLED", "True", *opts)


def test_compiling_raises_the_recompile_limit():
    _model(*COMPILE_EAGER)
    assert torch._dynamo.config.recompile_limit >= 64
