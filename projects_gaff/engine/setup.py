"""Config assembly and per-run set-up (logs, config files, split record, seeding)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.utils import comm
from detectron2.utils.collect_env import collect_env_info
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger

from ..atomic import atomic_write_json, atomic_write_text
from ..config import add_gaff_config
from ..data import register_datasets_from_config, save_split_manifest
from .schedule import resolve_epochs


def setup_cfg(config_file: str, opts: list[str] | None = None, resolve: bool = True) -> CfgNode:
    """Base config + project keys + ``config_file`` + ``opts``; datasets registered; epochs
    translated into iterations (``resolve``). Unknown keys raise a ValueError naming them."""
    cfg = get_cfg()
    add_gaff_config(cfg)
    try:
        cfg.merge_from_file(config_file)
        cfg.merge_from_list(list(opts or []))
    except (AssertionError, KeyError) as error:  # how yacs reports an unknown key
        raise ValueError(
            f"{error.args[0] if error.args else error} (in {config_file} or the command line); "
            "valid keys are Detectron2's defaults plus those in projects_gaff/config.py"
        ) from error
    register_datasets_from_config(cfg)
    if resolve:
        cfg = resolve_epochs(cfg)
    cfg.freeze()
    return cfg


def study_fields(cfg: CfgNode) -> dict:
    """The experiment's settings in the study guide's vocabulary (``config.json``)."""
    return {
        "backbone": cfg.MODEL.MIT.NAME,
        "gaff_stages": list(cfg.MODEL.GAFF.STAGES),
        "fusion_type": cfg.MODEL.FUSION.TYPE,
        "fusion_stage_types": list(cfg.MODEL.FUSION.STAGE_TYPES),
        "fusion_late": cfg.MODEL.FUSION.LATE,
        "se_reduction": cfg.MODEL.GAFF.SE_REDUCTION,
        "inter_mode": cfg.MODEL.GAFF.INTER_MODE,
        "inter_shared": cfg.MODEL.GAFF.INTER_MODE == "shared",
        "merge_bottleneck": cfg.MODEL.GAFF.MERGE_BOTTLENECK,
        "unfused_output": cfg.MODEL.MIT.UNFUSED_OUTPUT,
        "aux_channels": list(cfg.MODEL.MIT.AUX_CHANNELS),
        "pretrained_weights": cfg.MODEL.MIT.WEIGHTS or None,
        "epochs": cfg.SOLVER.EPOCHS or None,
        "iters_per_epoch": cfg.SOLVER.ITERS_PER_EPOCH,
        "max_iter": cfg.SOLVER.MAX_ITER,
        "batch_size": cfg.SOLVER.IMS_PER_BATCH,
        "accum_steps": cfg.SOLVER.ACCUM_STEPS,
        "optimizer": cfg.SOLVER.OPTIMIZER,
        "learning_rate": cfg.SOLVER.BASE_LR,
        "lr_scheduler": cfg.SOLVER.LR_SCHEDULER_NAME,
        "lr_steps": list(cfg.SOLVER.STEPS),
        "warmup_iters": cfg.SOLVER.WARMUP_ITERS,
        "weight_decay": cfg.SOLVER.WEIGHT_DECAY,
        "amp": cfg.SOLVER.AMP.DTYPE if cfg.SOLVER.AMP.ENABLED else None,
        "seed": cfg.SEED,
        "train_datasets": list(cfg.DATASETS.TRAIN),
        "val_datasets": list(cfg.DATASETS.VAL),
        "test_datasets": list(cfg.DATASETS.TEST),
        "device": cfg.MODEL.DEVICE,
        "world_size": comm.get_world_size(),
    }


def setup_run(cfg: CfgNode, args=None) -> logging.Logger:
    """Detectron2's ``default_setup`` for the study: ``training.log`` (appended on resume),
    ``config.yaml`` + ``config.json`` + ``splits.json`` in OUTPUT_DIR, seeded RNGs."""
    out = Path(cfg.OUTPUT_DIR)
    rank = comm.get_rank()
    if comm.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    log_file = str(out / "training.log")
    for name in ("fvcore", "detectron2", "projects_gaff"):
        setup_logger(log_file, distributed_rank=rank, name=name, abbrev_name=name[:3])
    logger = logging.getLogger("projects_gaff")
    logger.info("Rank %d of %d", rank, comm.get_world_size())
    logger.info("Environment:\n%s", collect_env_info())
    if args is not None:
        logger.info("Command line arguments: %s", args)
    if comm.is_main_process():
        atomic_write_text(out / "config.yaml", cfg.dump())
        atomic_write_json(out / "config.json", study_fields(cfg))
        splits = [*cfg.DATASETS.TRAIN, *cfg.DATASETS.VAL, *cfg.DATASETS.TEST]
        save_split_manifest(splits, out / "splits.json")
    logger.info("Full config saved to %s", out / "config.yaml")
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED + rank)
    torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    return logger
