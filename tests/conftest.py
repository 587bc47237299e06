"""Shared fixtures: a CPU config builder and the location of the real LLVIP sample."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
import torch
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


@contextmanager
def on_meta() -> Iterator[None]:
    """Build on the meta device without the MiT's weight init (timm's ``_init_weights``):
    for tests of shapes and parameter counts, which init cannot change; on meta the init's
    truncated normals cost half a second per encoder."""
    from timm.models.pvt_v2 import PyramidVisionTransformerV2

    no_init = mock.patch.object(PyramidVisionTransformerV2, "_init_weights", lambda *_: None)
    with torch.device("meta"), no_init:
        yield


TINY_OPTS_BASE = [
    "MODEL.MIT.NAME", "mit_b0",
    "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "128",
    "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128",
    "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "2",
    "TEST.FLOPS_INPUT_SIZE", "(96, 112)", "TEST.EVAL_EPOCHS", "1",
]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> list[str]:
    """16 demo frames on disk in layout 1, and the config options that train on them
    (split 8 / 4 / 4 by hash, 2 images per batch, frames shrunk to 96 px)."""
    from projects_gaff.data import generate_demo

    root = tmp_path_factory.mktemp("tiny")
    generate_demo(root, seed=3, frames=16)
    return [
        "DATASETS.GAFF.NAME", "tiny", "DATASETS.GAFF.LAYOUT", "npy_yolo",
        "DATASETS.GAFF.IMAGES", str(root / "images"), "DATASETS.GAFF.LABELS", str(root / "labels"),
        "DATASETS.GAFF.SPLIT_FRACTIONS", "[0.5, 0.25, 0.25]",
        "DATASETS.TRAIN", "('tiny_train',)", "DATASETS.VAL", "('tiny_val',)",
        "DATASETS.TEST", "('tiny_test',)",
        *TINY_OPTS_BASE,
    ]  # fmt: skip


QUICK = str(CONFIGS / "quick" / "gaff_s23.yaml")
TRAIN_NET = str(REPO_ROOT / "tools" / "train_net.py")


def train_net(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``tools/train_net.py`` as a user runs it, in its own process (the timeout leaves room
    for a CPU shared with other jobs)."""
    return subprocess.run(
        [sys.executable, TRAIN_NET, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="session")
def finished_run(tiny_dataset, tmp_path_factory) -> Path:
    """Two epochs of GAFF-s23 (mit_b0) on the tiny set: 4 iterations per epoch, two periodic
    checkpoints kept (the fallback tests need the one before the last). Read-only: tests
    that change it work on a copy. Tests using it train in a subprocess: mark them slow."""
    out = tmp_path_factory.mktemp("run")
    schedule = ["SOLVER.EPOCHS", "2", "SOLVER.CHECKPOINTS_TO_KEEP", "2"]
    assert_ok(train_net("--config-file", QUICK, *tiny_dataset, *schedule, "OUTPUT_DIR", str(out)))
    return out


def study_options(tmp_path: Path, **kw):
    """Options of a study under ``tmp_path`` on the study's base config."""
    from projects_gaff.study import StudyOptions

    return StudyOptions(
        output_base=tmp_path / "study",
        config_file=CONFIGS / "Base-GAFF-RCNN-FPN.yaml",
        train_script=REPO_ROOT / "tools" / "train_net.py",
        **kw,
    )


@pytest.fixture
def llvip_root() -> Path:
    if not LLVIP_ROOT.is_dir():
        pytest.skip(f"real LLVIP sample not found at {LLVIP_ROOT} (../shared is absent)")
    return LLVIP_ROOT
