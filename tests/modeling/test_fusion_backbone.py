"""Fusion methods through the config: per-stage choice, parameter accounting, modality
ablations (streams removed, not zeroed), clear errors, and every configs/fusion file."""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, make_cfg, on_meta
from detectron2.modeling import build_backbone
from fusion_formulas import fusion_params, gaff_params

from projects_gaff.backbone import TwoStreamMiT
from projects_gaff.fusion import GUIDE_GAFF, FusionSpec, fusion_specs_from_cfg
from projects_gaff.mit import MIT_SPECS

DIMS = MIT_SPECS["mit_b0"].dims
FUSION_CONFIGS = sorted((CONFIGS / "fusion").rglob("*.yaml"))
STUDY_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("Base"))


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bottom_up(config, *opts, device: str = "cpu"):
    cfg = make_cfg(config, "MODEL.DEVICE", device, *opts)
    with on_meta() if device == "meta" else torch.device(device):
        return build_backbone(cfg).bottom_up, cfg


@pytest.mark.parametrize("config", STUDY_CONFIGS, ids=lambda p: p.name)
def test_existing_configs_keep_their_meaning(config):
    cfg = make_cfg(config)
    assert fusion_specs_from_cfg(cfg) == dict.fromkeys(sorted(cfg.MODEL.FUSION.STAGES), GUIDE_GAFF)


@pytest.mark.parametrize("config", FUSION_CONFIGS, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_fusion_configs_add_exactly_their_formula(config):
    """Each config's fused stages, and nothing else, account for its extra parameters."""
    model, cfg = bottom_up(config, device="meta")
    specs = fusion_specs_from_cfg(cfg)
    assert sorted(int(s) for s in model.fusion) == sorted(specs)
    expected = sum(fusion_params(spec, DIMS[s - 1]) for s, spec in specs.items())
    assert n_params(model.fusion) == expected
    streams = {"rgb": 3, "aux": len(cfg.MODEL.MIT.AUX_CHANNELS)}
    for name, stream in model.streams().items():
        assert stream.patch_embed.proj.in_channels == streams[name]
    assert n_params(model) - n_params(model.fusion) == sum(map(n_params, model.streams().values()))


def test_per_stage_se_reduction():
    model, _ = bottom_up(
        CONFIGS / "fusion" / "gaff_se_per_stage.yaml", "MODEL.FUSION.STAGES", "[1, 2, 3, 4]",
        device="meta",
    )  # fmt: skip
    for s, r in zip((1, 2, 3, 4), (2, 4, 8, 16), strict=True):
        assert n_params(model.fusion[str(s)]) == gaff_params(DIMS[s - 1], r, False)


@pytest.mark.slow
def test_mixed_stage_types_train_every_parameter():
    """One backbone with four methods, a projected GAFF among them (gated: in
    test_fusion_blocks, as it refuses OUT_CHANNELS); every parameter and both
    inputs get a gradient, and each stage's output has the width it announces."""
    torch.manual_seed(0)
    model, _ = bottom_up(
        CONFIGS / "Base-GAFF-RCNN-FPN.yaml",
        "MODEL.FUSION.STAGES", "[1, 2, 3, 4]",
        "MODEL.FUSION.STAGE_TYPES", "['cssa', 'gaff', 'add', 'concat']",
        "MODEL.GAFF.OUT_CHANNELS", "96",
    )  # fmt: skip
    assert [type(model.fusion[s]).__name__ for s in "1234"] == [
        "CSSABlock",
        "ProjectedFusion",
        "AddFusion",
        "ConcatFusion",
    ]
    x = torch.randn(2, 5, 64, 64, requires_grad=True)
    features = model(x)
    shapes = model.output_shape()
    assert [shapes[f"stage{s}"].channels for s in (1, 2, 3, 4)] == [32, 96, 160, 256]
    for s, (name, f) in enumerate(features.items(), start=1):
        assert f.shape == (2, shapes[name].channels, 64 // 2 ** (s + 1), 64 // 2 ** (s + 1))
    sum((f * torch.randn_like(f)).sum() for f in features.values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert x.grad[:, :3].any() and x.grad[:, 3:].any()


@pytest.mark.slow
def test_late_fusion_leaves_the_streams_unfused():
    """Late concat at s23: the FPN gets concat maps at stages 2 and 3, and at stages 1 and 4
    exactly the no-fusion model's rgb + aux (same stream weights); mid-level concat feeds
    the fused maps on, so its stage 4 differs."""
    torch.manual_seed(0)
    late, _ = bottom_up(CONFIGS / "fusion" / "late_concat.yaml")
    mid, _ = bottom_up(CONFIGS / "fusion" / "concat.yaml")
    none, _ = bottom_up(CONFIGS / "fusion" / "none.yaml")
    for model in (mid, none):
        model.load_state_dict(late.state_dict(), strict=False)  # streams (+ mid's merges)
    x = torch.randn(2, 5, 64, 64)
    with torch.no_grad():
        out = {name: m.eval()(x) for name, m in (("late", late), ("mid", mid), ("none", none))}
        rgb, aux = late.rgb(x[:, :3]), late.aux(x[:, 3:])
    for stage in ("stage1", "stage4"):
        torch.testing.assert_close(out["late"][stage], out["none"][stage])
    torch.testing.assert_close(out["late"]["stage3"], late.fusion["3"](rgb[2], aux[2]))
    torch.testing.assert_close(out["late"]["stage2"], out["mid"]["stage2"])
    assert not torch.allclose(out["late"]["stage4"], out["mid"]["stage4"])


@pytest.mark.slow
@pytest.mark.parametrize("config", ["late_concat.yaml", "xattn.yaml"])
def test_late_and_cross_attention_fusion_train_every_parameter(config):
    torch.manual_seed(0)
    model, _ = bottom_up(CONFIGS / "fusion" / config)
    x = torch.randn(2, 5, 64, 64, requires_grad=True)
    features = model(x)
    sum((f * torch.randn_like(f)).sum() for f in features.values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert x.grad[:, :3].any() and x.grad[:, 3:].any()


def test_cross_attention_takes_each_stage_s_mit_geometry():
    _, cfg = bottom_up(
        CONFIGS / "fusion" / "xattn.yaml", "MODEL.FUSION.STAGES", "[1, 4]", device="meta"
    )
    specs = fusion_specs_from_cfg(cfg)
    assert [(specs[s].attn_heads, specs[s].attn_sr_ratio) for s in (1, 4)] == [(1, 8), (8, 1)]


def test_add_fusion_and_type_none():
    model, _ = bottom_up(CONFIGS / "fusion" / "add.yaml", device="meta")
    assert n_params(model.fusion) == 0 and sorted(model.fusion) == ["2", "3"]
    none, _ = bottom_up(
        CONFIGS / "fusion" / "none.yaml", "MODEL.FUSION.STAGES", "[2, 3]", device="meta"
    )
    assert len(none.fusion) == 0


@pytest.mark.parametrize(
    "config, streams, channels",
    [
        ("rgb.yaml", {"rgb": 3}, 5),
        ("thermal.yaml", {"aux": 1}, 4),
        ("event.yaml", {"aux": 1}, 4),
        ("thermal_event.yaml", {"aux": 2}, 5),
        ("rgb_thermal.yaml", {"rgb": 3, "aux": 1}, 4),
        ("rgb_event.yaml", {"rgb": 3, "aux": 1}, 4),
    ],
)
def test_modality_ablations_build_only_their_streams(config, streams, channels):
    model, cfg = bottom_up(CONFIGS / "fusion" / "modality" / config, device="meta")
    assert len(cfg.MODEL.PIXEL_MEAN) == channels
    assert {k: s.patch_embed.proj.in_channels for k, s in model.streams().items()} == streams


@pytest.mark.parametrize(
    "config, ignored", [("rgb.yaml", slice(3, 5)), ("thermal.yaml", slice(0, 3))]
)
def test_removed_stream_ignores_its_channels(config, ignored):
    """No RGB means no RGB stream: the R, G, B input channels cannot change the features."""
    model, cfg = bottom_up(CONFIGS / "fusion" / "modality" / config)
    x = torch.randn(1, len(cfg.MODEL.PIXEL_MEAN), 64, 64)
    zeroed = x.clone()
    zeroed[:, ignored] = 0
    model.eval()
    with torch.no_grad():
        features, features_zeroed = model(x), model(zeroed)
    assert features["stage4"].shape == (1, DIMS[3], 2, 2)
    for name, f in features.items():
        torch.testing.assert_close(features_zeroed[name], f)


@pytest.mark.parametrize(
    "opts, message",
    [
        (("MODEL.FUSION.TYPE", "mean"), "MODEL.FUSION.TYPE 'mean' is not one of"),
        (("MODEL.FUSION.STAGE_TYPES", "['gaff']"), "one entry per MiT stage"),
        (("MODEL.FUSION.STAGE_TYPES", "['gaff', 'x', 'add', 'add']"), r"has \['x'\]"),
        (
            ("MODEL.FUSION.STAGE_TYPES", "['gaff', 'none', 'add', 'add']"),
            "'none' for stage 2, which MODEL.FUSION.STAGES",
        ),
        (("MODEL.GAFF.STAGE_SE_REDUCTIONS", "[4, 8]"), "STAGE_SE_REDUCTIONS"),
        (("MODEL.GAFF.STAGE_SE_REDUCTIONS", "[4, 3, 8, 8]"), "SE reduction 3"),
        (("MODEL.FUSION.TYPE", "gated", "MODEL.GAFF.OUT_CHANNELS", 128), "gated fusion"),
        (("MODEL.FUSION.TYPE", "cssa", "MODEL.FUSION.CSSA.THRESHOLD", 1.5), "threshold 1.5"),
        (("MODEL.GAFF.GUIDANCE_WEIGHT", 0.1), "needs MODEL.META_ARCHITECTURE 'GuidedRCNN'"),
        (
            (
                "MODEL.META_ARCHITECTURE",
                "GuidedRCNN",
                "MODEL.GAFF.GUIDANCE_WEIGHT",
                0.1,
                "MODEL.FUSION.TYPE",
                "cssa",
            ),
            "no stage fuses with",
        ),
        (("MODEL.GAFF.GUIDANCE_WEIGHT", -1.0), "must be >= 0"),
        (("MODEL.FUSION.LATE", True, "MODEL.GAFF.OUT_CHANNELS", 96), "late fusion does not"),
    ],
)
def test_config_errors_are_clear(opts, message):
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml", "MODEL.DEVICE", "meta", *opts)
    with pytest.raises(ValueError, match=message), on_meta():
        build_backbone(cfg)


def test_spec_mapping_must_match_the_fused_stages():
    with pytest.raises(ValueError, match="fusion specs for stages"):
        TwoStreamMiT("mit_b0", fusion_stages=(2, 3), fusion_spec={2: FusionSpec()})
