"""Shared fixtures: a CPU config builder and the location of the real LLVIP sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from detectron2.config import CfgNode, get_cfg

from projects_gaff import add_gaff_config

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
LLVIP_ROOT = REPO_ROOT.parent / "shared" / "data" / "llvip_rgbt"


def make_cfg(config_file: str | Path = CONFIGS / "Base-GAFF-RCNN-FPN.yaml", *opts) -> CfgNode:
    """A study config forced onto the CPU with the smallest MiT, for fast tests."""
    cfg = get_cfg()
    add_gaff_config(cfg)
    cfg.merge_from_file(str(config_file))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.MIT.NAME", "mit_b0", *opts])
    return cfg


@pytest.fixture
def llvip_root() -> Path:
    if not LLVIP_ROOT.is_dir():
        pytest.skip(f"real LLVIP sample not found at {LLVIP_ROOT} (../shared is absent)")
    return LLVIP_ROOT
