"""Translate the study's epoch-based settings into Detectron2's iteration keys."""

from __future__ import annotations

import math

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog


def dataset_length(names: tuple[str, ...] | list[str]) -> int:
    return sum(len(DatasetCatalog.get(name)) for name in names)


def resolve_epochs(cfg: CfgNode, train_frames: int | None = None) -> CfgNode:
    """Return a copy of ``cfg`` with ITERS_PER_EPOCH set and, in epoch mode, MAX_ITER,
    STEPS and CHECKPOINT_PERIOD derived from SOLVER.EPOCHS / STEP_EPOCHS.

    An epoch is ceil(frames / IMS_PER_BATCH) iterations (one optimiser step each, however
    many micro-batches SOLVER.ACCUM_STEPS splits it into).
    """
    cfg = cfg.clone()
    cfg.defrost()
    frames = dataset_length(cfg.DATASETS.TRAIN) if train_frames is None else train_frames
    if frames == 0:
        raise ValueError(f"training datasets {list(cfg.DATASETS.TRAIN)} contain no frames")
    batch = cfg.SOLVER.IMS_PER_BATCH
    if batch % cfg.SOLVER.ACCUM_STEPS:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={batch} is not divisible by SOLVER.ACCUM_STEPS="
            f"{cfg.SOLVER.ACCUM_STEPS}; choose a batch that splits into equal micro-batches"
        )
    ipe = math.ceil(frames / batch)
    cfg.SOLVER.ITERS_PER_EPOCH = ipe
    if cfg.SOLVER.EPOCHS > 0:
        cfg.SOLVER.MAX_ITER = cfg.SOLVER.EPOCHS * ipe
        cfg.SOLVER.STEPS = tuple(e * ipe for e in cfg.SOLVER.STEP_EPOCHS if e < cfg.SOLVER.EPOCHS)
        cfg.SOLVER.CHECKPOINT_PERIOD = ipe
    cfg.freeze()
    return cfg
