"""Config assembly and per-run set-up; nothing is written before the run is validated."""

from __future__ import annotations

import logging
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from detectron2.config import CfgNode, get_cfg
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.utils import comm
from detectron2.utils.collect_env import collect_env_info
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger

from .. import add_gaff_config  # the package import registers the model (PointRend idiom)
from ..atomic import atomic_write_json, atomic_write_text
from ..data import register_datasets_from_config, split_manifest
from ..run_files import (
    CHECKPOINT_DIR,
    CONFIG_JSON,
    CONFIG_YAML,
    D2_METRICS,
    EVAL_RESULTS,
    FAILED_RECORD,
    FINAL_RESULTS,
    INFERENCE_DIR,
    METRICS_PER_BATCH,
    METRICS_PER_EPOCH,
    MODEL_INFO,
    SPLITS,
    TRAINING_LOG,
)
from .model_info import architecture
from .trainer import GAFFTrainer, check_class_count

# A log record with this ``extra`` goes to training.log only, never to the console: the
# environment dump and tracebacks are for a bug report, the console gets one error line.
FILE_ONLY = {"file_only": True}

# Removed by --overwrite (training.log and console.log stay), so nothing of the replaced
# run is mistaken for the new one's (a stale last_checkpoint would be resumed).
_RUN_FILES = (
    CONFIG_YAML, CONFIG_JSON, SPLITS, MODEL_INFO, METRICS_PER_BATCH, METRICS_PER_EPOCH,
    D2_METRICS, FINAL_RESULTS, EVAL_RESULTS, FAILED_RECORD,
)  # fmt: skip
_RUN_FOLDERS = (CHECKPOINT_DIR, INFERENCE_DIR)

_MISSING_C = (
    "detectron2._C (Detectron2's compiled operators) is not built here: rotated boxes, "
    "deformable convolutions and the fast COCO evaluator are unavailable. This project uses "
    "none of them (pycocotools gives the same COCO numbers), so nothing is missing."
)


class RunFolderError(ValueError):
    """OUTPUT_DIR holds another run that this one would overwrite."""


def setup_cfg(config_file: str, opts: list[str] | None = None, resolve: bool = True) -> CfgNode:
    """Frozen config with datasets registered and (``resolve``) epochs in iterations."""
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


def resolve_epochs(cfg: CfgNode, train_frames: int | None = None) -> CfgNode:
    """A copy with ITERS_PER_EPOCH set (one optimiser step each, however many micro-batches)
    and, in epoch mode, MAX_ITER, STEPS and CHECKPOINT_PERIOD from the epoch keys."""
    cfg = cfg.clone()
    cfg.defrost()
    if train_frames is None:
        train_frames = sum(len(DatasetCatalog.get(name)) for name in cfg.DATASETS.TRAIN)
    if train_frames == 0:
        raise ValueError(f"training datasets {list(cfg.DATASETS.TRAIN)} contain no frames")
    batch = cfg.SOLVER.IMS_PER_BATCH
    if batch % cfg.SOLVER.ACCUM_STEPS:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={batch} is not divisible by SOLVER.ACCUM_STEPS="
            f"{cfg.SOLVER.ACCUM_STEPS}; choose a batch that splits into equal micro-batches"
        )
    ipe = math.ceil(train_frames / batch)
    cfg.SOLVER.ITERS_PER_EPOCH = ipe
    if cfg.SOLVER.EPOCHS > 0:
        cfg.SOLVER.MAX_ITER = cfg.SOLVER.EPOCHS * ipe
        cfg.SOLVER.STEPS = tuple(e * ipe for e in cfg.SOLVER.STEP_EPOCHS if e < cfg.SOLVER.EPOCHS)
        cfg.SOLVER.CHECKPOINT_PERIOD = ipe
    cfg.freeze()
    return cfg


def study_fields(cfg: CfgNode) -> dict:
    """The experiment's settings in the study guide's vocabulary (``config.json``)."""
    return {
        **architecture(cfg),
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
        # What runs, not what was asked for: autocast is CUDA-only (see setting_warnings).
        "amp": cfg.SOLVER.AMP.DTYPE if GAFFTrainer._use_amp(cfg) else None,
        "seed": cfg.SEED,
        "train_datasets": list(cfg.DATASETS.TRAIN),
        "val_datasets": list(cfg.DATASETS.VAL),
        "test_datasets": list(cfg.DATASETS.TEST),
        "device": cfg.MODEL.DEVICE,
        "world_size": comm.get_world_size(),
    }


def previous_config(out: str | Path) -> dict | None:
    """The config of the run whose results ``out`` holds; None without results (a run that
    failed before training is not worth protecting), {} when its config is lost."""
    out = Path(out)
    checkpoints = out / CHECKPOINT_DIR
    has_results = (
        (out / FINAL_RESULTS).is_file()
        or (out / METRICS_PER_BATCH).is_file()
        or (checkpoints.is_dir() and any(checkpoints.glob("*.pth")))
    )
    if not has_results:
        return None
    try:
        return yaml.safe_load((out / CONFIG_YAML).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``KEY: old -> new``; keys only one side has (another code version) and OUTPUT_DIR
    do not count."""
    differences = []
    for key in sorted(old.keys() & new.keys()):
        name = f"{prefix}{key}"
        if name == "OUTPUT_DIR":
            continue
        if isinstance(old[key], dict) and isinstance(new[key], dict):
            differences += config_differences(old[key], new[key], f"{name}.")
        elif old[key] != new[key]:
            differences.append(f"{name}: {old[key]} -> {new[key]}")
    return differences


def check_run_folder(
    cfg: CfgNode, resume: bool = False, overwrite: bool = False, eval_only: bool = False
) -> list[str]:
    """Refuse a folder holding another config's results unless told to; returns the
    differences, to be logged."""
    if resume and overwrite:
        raise ValueError("--resume continues the run in OUTPUT_DIR, --overwrite replaces it: "
                         "give one of them")  # fmt: skip
    old = previous_config(cfg.OUTPUT_DIR)
    if old is None:
        return []
    if not old:
        differences = [f"its {CONFIG_YAML} is missing or unreadable"]
    else:
        differences = config_differences(old, yaml.safe_load(cfg.dump()))
    if not differences or resume or overwrite or eval_only:
        return differences
    listed = "; ".join(differences[:4]) + (
        f"; and {len(differences) - 4} more" if len(differences) > 4 else ""
    )
    raise RunFolderError(
        f"OUTPUT_DIR {cfg.OUTPUT_DIR} holds another run, with a different config ({listed}). "
        "Fix: set OUTPUT_DIR to a new folder, pass --resume to continue that run, or "
        "--overwrite to replace it"
    )


def validate_run(cfg: CfgNode) -> dict[str, Any]:
    """Build the model (on the CPU), its optimizer and every dataset before anything is
    written, so a mistake leaves the folder as it was; returns ``splits.json``."""
    check_class_count(cfg)
    GAFFTrainer._use_amp(cfg)  # validates SOLVER.AMP.DTYPE
    on_cpu = cfg.clone()
    on_cpu.defrost()
    on_cpu.MODEL.DEVICE = "cpu"
    GAFFTrainer.build_optimizer(on_cpu, build_model(on_cpu))
    return split_manifest([*cfg.DATASETS.TRAIN, *cfg.DATASETS.VAL, *cfg.DATASETS.TEST])


def setting_warnings(cfg: CfgNode) -> list[str]:
    """Settings that are valid but do not do what they seem to."""
    found = []
    solver = cfg.SOLVER
    if solver.WARMUP_ITERS >= solver.MAX_ITER and solver.WARMUP_FACTOR < 1.0:
        found.append(
            f"SOLVER.WARMUP_ITERS {solver.WARMUP_ITERS} is not shorter than the whole run "
            f"({solver.MAX_ITER} iterations): the learning rate never reaches SOLVER.BASE_LR "
            f"{solver.BASE_LR}. Lower WARMUP_ITERS (or train longer)."
        )
    if solver.AMP.ENABLED and not GAFFTrainer._use_amp(cfg):
        found.append(
            f"SOLVER.AMP.ENABLED with MODEL.DEVICE {cfg.MODEL.DEVICE!r}: autocast runs on CUDA "
            "only, so this run trains in float32 (config.json records amp: null)."
        )
    return found


def setup_run(cfg: CfgNode, args=None) -> logging.Logger:
    """Detectron2's ``default_setup`` for the study. When validation fails in a folder
    without a previous run, training.log is still started for the traceback."""
    out = Path(cfg.OUTPUT_DIR)
    resume, overwrite, eval_only = (
        bool(getattr(args, flag, False)) for flag in ("resume", "overwrite", "eval_only")
    )
    differences = check_run_folder(cfg, resume, overwrite, eval_only)
    keeps_previous = previous_config(out) is not None
    try:
        manifest = validate_run(cfg)
    except Exception:
        if not keeps_previous:
            _start_log(out, args)
        raise
    if overwrite and keeps_previous and comm.is_main_process():
        _remove_previous_run(out)
    logger = _start_log(out, args)
    if differences:
        what = "Evaluating" if eval_only else "Resuming" if resume else "Replacing"
        logger.warning("%s a run whose config differs: %s", what, "; ".join(differences))
    for warning in setting_warnings(cfg):
        logger.warning(warning)
    if comm.is_main_process() and not (eval_only and keeps_previous):
        # An evaluation adds eval_results.json; the training run's records stay as they are.
        atomic_write_text(out / CONFIG_YAML, cfg.dump())
        atomic_write_json(out / CONFIG_JSON, study_fields(cfg))
        atomic_write_json(out / SPLITS, manifest)
        logger.info("Full config saved to %s", out / CONFIG_YAML)
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED + comm.get_rank())
    torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    return logger


def _start_log(out: Path, args) -> logging.Logger:
    """training.log for Detectron2's, fvcore's and our loggers; FILE_ONLY records skip the
    console."""
    rank = comm.get_rank()
    if comm.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    for name in ("fvcore", "detectron2", "projects_gaff"):
        named = setup_logger(str(out / TRAINING_LOG), distributed_rank=rank, name=name,
                             abbrev_name=name[:3])  # fmt: skip
        for handler in named.handlers:
            if getattr(handler, "stream", None) in (sys.stdout, sys.stderr):
                handler.addFilter(_not_file_only)  # added once, however often called
    logger = logging.getLogger("projects_gaff")
    logger.info("Rank %d of %d", rank, comm.get_world_size(), extra=FILE_ONLY)
    logger.info("Environment:\n%s", collect_env_info(), extra=FILE_ONLY)
    try:
        import detectron2._C  # noqa: F401
    except ImportError:
        logger.info(_MISSING_C, extra=FILE_ONLY)
    if args is not None:
        logger.info("Command line arguments: %s", args, extra=FILE_ONLY)
    return logger


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def _remove_previous_run(out: Path) -> None:
    for name in _RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for folder in _RUN_FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)
    for events in out.glob("events.out.tfevents.*"):
        events.unlink()
