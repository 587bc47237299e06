"""Attention capture (forward hooks) and tools/visualize_attention.py."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from conftest import CONFIGS, REPO_ROOT, make_cfg
from detectron2.modeling import build_backbone, build_model

from projects_gaff.fusion import capture_attention

# matplotlib's font-config parser calls pyparsing names that pyparsing 3.3 deprecated


def test_capture_records_every_map_at_its_stage_resolution():
    cfg = make_cfg(
        CONFIGS / "Base-GAFF-RCNN-FPN.yaml",
        "MODEL.FUSION.STAGES", "[1, 2, 3]",
        "MODEL.FUSION.STAGE_TYPES", "['cssa', 'gated', 'gaff', 'none']",
    )  # fmt: skip
    backbone = build_backbone(cfg).eval()
    x = torch.randn(2, 5, 64, 96)
    with torch.no_grad(), capture_attention(backbone) as maps:
        backbone(x)
    shapes = {s: {k: tuple(v.shape) for k, v in e.items()} for s, e in maps.items()}
    assert shapes == {
        1: {"eca_rgb": (2, 32), "eca_aux": (2, 32), "spatial": (2, 1, 16, 24)},
        2: {
            "gate": (2, 64, 8, 12),
            "rgb<-aux": (2, 64, 8, 12),
            "aux<-rgb": (2, 64, 8, 12),
            "se_rgb": (2, 64),
            "se_aux": (2, 64),
        },
        3: {
            "rgb<-aux": (2, 160, 4, 6),
            "aux<-rgb": (2, 160, 4, 6),
            "se_rgb": (2, 160),
            "se_aux": (2, 160),
        },
    }
    assert all(0 <= v.min() and v.max() <= 1 for e in maps.values() for v in e.values())
    before = maps[3]["se_rgb"].clone()
    with torch.no_grad():
        backbone(torch.randn(2, 5, 64, 96))  # the hooks are gone after the with block
    torch.testing.assert_close(maps[3]["se_rgb"], before)


@pytest.fixture(scope="module")
def visualize_attention():
    path = REPO_ROOT / "tools" / "visualize_attention.py"
    spec = importlib.util.spec_from_file_location("visualize_attention", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tool_writes_pngs_and_maps(tmp_path, visualize_attention):
    config = CONFIGS / "quick" / "gaff_s23.yaml"
    torch.manual_seed(0)
    weights = tmp_path / "model.pth"
    torch.save({"model": build_model(make_cfg(config)).state_dict()}, weights)
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 5), dtype=np.uint8)
    np.save(tmp_path / "frame.npy", frame)
    out = tmp_path / "attention"
    argv = ["--config-file", str(config), "--weights", str(weights)]
    argv += ["--frame", str(tmp_path / "frame.npy"), "--output", str(out)]
    assert visualize_attention.main([*argv, "MODEL.DEVICE", "cpu"]) == 0
    for name in ("channel_weights.png", "attention_stage2.png", "attention_stage3.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    maps = np.load(out / "attention.npz")
    # 96 x 128 frames keep their size (no upscaling) and need no padding (multiples of 32)
    assert {k: maps[k].shape for k in maps.files} == {
        "stage2/rgb<-aux": (1, 64, 12, 16),
        "stage2/aux<-rgb": (1, 64, 12, 16),
        "stage2/se_rgb": (1, 64),
        "stage2/se_aux": (1, 64),
        "stage3/rgb<-aux": (1, 160, 6, 8),
        "stage3/aux<-rgb": (1, 160, 6, 8),
        "stage3/se_rgb": (1, 160),
        "stage3/se_aux": (1, 160),
    }
