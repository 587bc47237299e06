"""The detector built from every study config: shapes, gradients, parameter accounting."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import CONFIGS, make_cfg, on_meta
from detectron2.modeling import build_backbone, build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from fusion_formulas import gaff_params

from projects_gaff.mit import MIT_SPECS

STUDY_CONFIGS = sorted(p.name for p in CONFIGS.glob("*.yaml") if not p.name.startswith("Base"))
STAGES = {
    "gaff_s1.yaml": [1],
    "gaff_s23.yaml": [2, 3],
    "gaff_s1234.yaml": [1, 2, 3, 4],
    "baseline_nofusion.yaml": [],
}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def training_batch(channels: int = 5) -> list[dict]:
    batch = []
    for h, w, boxes in [
        (150, 190, [[10.0, 12, 60, 90]]),
        (128, 161, [[30.0, 5, 70, 50], [90, 60, 150, 120]]),
    ]:
        instances = Instances((h, w))
        instances.gt_boxes = Boxes(torch.tensor(boxes))
        instances.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
        batch.append(
            {
                "image": torch.rand(channels, h, w) * 255,
                "instances": instances,
                "height": h,
                "width": w,
            }
        )
    return batch


def test_the_study_configs_exist():
    expected = {f"gaff_s{s}.yaml" for s in ("1", "2", "3", "4", "23", "34", "234", "1234")}
    assert expected | {"baseline_nofusion.yaml"} <= set(STUDY_CONFIGS)


@pytest.mark.parametrize("config", STUDY_CONFIGS)
def test_build_model_for_every_config(config):
    cfg = make_cfg(CONFIGS / config)
    model = build_model(cfg)
    bottom_up = model.backbone.bottom_up
    assert sorted(int(s) for s in bottom_up.fusion) == sorted(cfg.MODEL.FUSION.STAGES)
    assert cfg.MODEL.GAFF.SE_REDUCTION == 4 and cfg.MODEL.GAFF.INTER_MODE == "separate"
    assert not cfg.MODEL.GAFF.MERGE_BOTTLENECK
    if config in STAGES:
        assert list(cfg.MODEL.FUSION.STAGES) == STAGES[config]


def test_phase1_configs_default_to_mit_b1():
    from detectron2.config import get_cfg

    from projects_gaff import add_gaff_config

    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_file(str(CONFIGS / "gaff_s3.yaml"))
    assert cfg.MODEL.MIT.NAME == "mit_b1" and cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1
    assert len(cfg.MODEL.PIXEL_MEAN) == len(cfg.MODEL.PIXEL_STD) == 5


@pytest.mark.parametrize(
    "config",
    [
        "gaff_s23.yaml",
        pytest.param("gaff_s1234.yaml", marks=pytest.mark.slow),
        pytest.param("baseline_nofusion.yaml", marks=pytest.mark.slow),
    ],
)
def test_training_step_uses_every_parameter(config):
    torch.manual_seed(0)
    model = build_model(make_cfg(CONFIGS / config))
    model.train()
    with EventStorage():
        losses = model(training_batch())
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def test_inference_returns_instances_in_input_coordinates():
    model = build_model(make_cfg(CONFIGS / "gaff_s23.yaml")).eval()
    with torch.no_grad():
        out = model([{"image": torch.rand(5, 150, 190) * 255, "height": 300, "width": 380}])
    assert out[0]["instances"].image_size == (300, 380)


@pytest.mark.parametrize("h, w", [(128, 160), (150, 190)])
def test_backbone_output_shapes_and_strides(h, w):
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml")
    backbone = build_backbone(cfg)
    shapes = backbone.output_shape()
    assert {k: v.stride for k, v in shapes.items()} == {
        "p2": 4,
        "p3": 8,
        "p4": 16,
        "p5": 32,
        "p6": 64,
    }
    assert {v.channels for v in shapes.values()} == {cfg.MODEL.FPN.OUT_CHANNELS}
    bottom_up = backbone.bottom_up
    assert {k: (v.channels, v.stride) for k, v in bottom_up.output_shape().items()} == {
        "stage1": (32, 4),
        "stage2": (64, 8),
        "stage3": (160, 16),
        "stage4": (256, 32),
    }
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32  # the detector pads to size_divisibility
    assert backbone.size_divisibility == 32
    with torch.no_grad():
        feats = bottom_up(torch.randn(1, 5, ph, pw))
        pyramid = backbone(torch.randn(1, 5, ph, pw))
    for name, stride in [("stage1", 4), ("stage2", 8), ("stage3", 16), ("stage4", 32)]:
        assert feats[name].shape[-2:] == (ph // stride, pw // stride)
    for name, stride in [("p2", 4), ("p3", 8), ("p4", 16), ("p5", 32), ("p6", 64)]:
        assert pyramid[name].shape == (1, 256, -(-ph // stride), -(-pw // stride))


@functools.cache
def detector_params(variant: str, stages: tuple[int, ...], r: int, bottleneck: bool) -> int:
    cfg = make_cfg(CONFIGS / "Base-GAFF-RCNN-FPN.yaml", "MODEL.MIT.NAME", variant)
    cfg.merge_from_list(["MODEL.DEVICE", "meta", "MODEL.FUSION.STAGES", str(list(stages))])
    cfg.merge_from_list(["MODEL.GAFF.SE_REDUCTION", r, "MODEL.GAFF.MERGE_BOTTLENECK", bottleneck])
    with on_meta():
        return n_params(build_model(cfg))


@pytest.mark.parametrize("stages", [(1,), (3,), (2, 3), (3, 4), (1, 2, 3, 4)])
@pytest.mark.parametrize("variant", ["mit_b0", pytest.param("mit_b1", marks=pytest.mark.slow)])
def test_param_count_changes_by_the_gaff_formula(stages, variant):
    dims = MIT_SPECS[variant].dims
    for r, bottleneck in [(4, False), (8, True)]:
        expected = sum(gaff_params(dims[s - 1], r, bottleneck) for s in stages)
        fused = detector_params(variant, stages, r, bottleneck)
        assert fused - detector_params(variant, (), r, bottleneck) == expected


@pytest.mark.slow
def test_rgb_output_mode_builds_no_unreachable_aux_stages():
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml", "MODEL.MIT.UNFUSED_OUTPUT", "rgb")
    model = build_model(cfg)
    assert model.backbone.bottom_up.aux.num_stages == 3
    model.train()
    with EventStorage():
        sum(model(training_batch()).values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []

    rgb_only = build_model(
        make_cfg(CONFIGS / "baseline_nofusion.yaml", "MODEL.MIT.UNFUSED_OUTPUT", "rgb")
    )
    assert rgb_only.backbone.bottom_up.aux is None


def test_auxiliary_channel_subset():
    cfg = make_cfg(
        CONFIGS / "gaff_s23.yaml",
        "MODEL.MIT.AUX_CHANNELS",
        "['thermal']",
        "MODEL.PIXEL_MEAN",
        "[123.675, 116.28, 103.53, 127.5]",
        "MODEL.PIXEL_STD",
        "[58.395, 57.12, 57.375, 64.0]",
    )
    model = build_model(cfg)
    assert model.backbone.bottom_up.aux.patch_embed.proj.in_channels == 1
    model.train()
    with EventStorage():
        assert torch.isfinite(sum(model(training_batch(channels=4)).values()))


@pytest.mark.parametrize(
    "opts, message",
    [
        (("MODEL.FUSION.STAGES", "[5]"), r"MODEL.FUSION.STAGES \[5\]: stage\(s\) \[5\] do not"),
        (("MODEL.GAFF.SE_REDUCTION", 0), "SE reduction 0"),
        (("MODEL.GAFF.INTER_MODE", "cross"), "INTER_MODE 'cross'"),
        (("MODEL.MIT.NAME", "mit_b9"), "MODEL.MIT.NAME 'mit_b9'"),
        (("MODEL.MIT.UNFUSED_OUTPUT", "max"), "UNFUSED_OUTPUT 'max'"),
        (("MODEL.GAFF.OUT_CHANNELS", -1), "OUT_CHANNELS=-1"),
        (
            ("MODEL.PIXEL_MEAN", "[0.0, 0.0, 0.0]", "MODEL.PIXEL_STD", "[1.0, 1.0, 1.0]"),
            "PIXEL_MEAN has 3 entries",
        ),
    ],
)
def test_config_errors_are_clear(opts, message):
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml", *opts)
    with pytest.raises(ValueError, match=message):
        build_model(cfg)
