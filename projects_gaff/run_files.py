"""The run-folder and study-folder contract: file names, metric keys, exit codes, names.
Torch-free: the engine writes these files; the study runner and the analysis read them
without importing torch or Detectron2 to know a name."""

from __future__ import annotations

import re
from pathlib import PurePath

# ---- one training run: <OUTPUT_DIR>/... -------------------------------------------------
CONFIG_YAML = "config.yaml"  # the full Detectron2 config, loadable with --config-file
CONFIG_JSON = "config.json"  # the study fields of the config (what the analysis compares)
SPLITS = "splits.json"  # which frames went to train / val / test
TRAINING_LOG = "training.log"  # Detectron2's logger, environment dump, tracebacks
CONSOLE_LOG = "console.log"  # stdout + stderr of a run launched by the study runner
MODEL_INFO = "model_info.json"  # parameters per component, GFLOPs
METRICS_PER_BATCH = "metrics_per_batch.csv"
METRICS_PER_EPOCH = "metrics_per_epoch.csv"
D2_METRICS = "metrics.json"  # Detectron2's JSONWriter stream
FINAL_RESULTS = "final_results.json"  # written last, atomically: the run is finished
FAILED_RECORD = "failed.json"  # written by the study runner when a run failed
EVAL_RESULTS = "eval_results.json"  # tools/train_net.py --eval-only
DETECTIONS = "detections.json"  # tools/predict.py and tools/export_detections.py: COCO json
INFERENCE_DIR = "inference"  # inference/<dataset>/: the evaluators' files (COCO json, ...)
MISS_RATE_METRICS = "miss_rate.json"  # the miss-rate evaluator's metrics, in its output folder
MISS_RATE_RESULTS = "miss_rate_result.txt"  # ... and its detections as a KAIST result file

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = PurePath(CHECKPOINT_DIR) / "last_checkpoint"
BEST_MODEL = "best_model"  # checkpoints/best_model.pth + best_model.json
FINAL_MODEL = "model_final"


def periodic_checkpoint(iteration: int) -> str:
    """Detectron2's PeriodicCheckpointer file name for an iteration."""
    return f"model_{iteration:07d}.pth"


# ---- one study: <study>/... ---------------------------------------------------------------
STUDY_MANIFEST = "study.json"
PHASE2_SELECTION = "phase2_selection.json"
SUMMARY = "summary_all_experiments.csv"  # the GAFF study's


def comparison_summary(folder: str) -> str:
    """Named after the folder: two studies sharing an ``--output-base`` never share a file."""
    return f"summary_{folder}.csv"


MASTER_LOG = "master_log.txt"
STUDY_LOCK = "ablate.lock"  # one runner per study folder
JOBS_REGISTRY = "jobs.json"
SUBMITIT_FOLDER = "submitit"
PHASE_FOLDERS = {1: "phase1_stage_selection", 2: "phase2_hyperparameter_tuning"}

# ---- metrics ------------------------------------------------------------------------------
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
DEFAULT_SELECT_METRIC = "AP"
# Miss-rate metrics (log-average miss rate, %, lower is better) start with this prefix,
# e.g. "MR_reasonable_all"; every other metric is higher-is-better.
MISS_RATE_PREFIX = "MR_"


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is the better model (miss rates)."""
    return metric.startswith(MISS_RATE_PREFIX)


# ---- exit codes of tools/train_net.py -----------------------------------------------------
EXIT_CONFIG_ERROR = 2  # a config or data mistake, explained in one `error:` line
EXIT_NONFINITE_LOSS = 3  # the loss became NaN/inf
EXIT_REASONS = {
    EXIT_CONFIG_ERROR: "config or data error",
    EXIT_NONFINITE_LOSS: "loss became NaN/inf",
}

# ---- experiment names: exp_NNN_<code>[_seedK] ---------------------------------------------
EXPERIMENT_ID = re.compile(r"^exp_(?P<number>\d{3})(?=_|$)")  # the id at the start of a name
GAFF_CODE = r"s[1-4]+_r\d+_is[01]_mb[01]"  # stages, SE reduction, inter shared, bottleneck
RUN_NAME = re.compile(r"^(?P<exp>exp_\d{3})_(?P<code>.+?)(?:_seed(?P<seed>\d+))?$")
SEED_SUFFIX = re.compile(r"_seed(?P<seed>\d+)$")  # any run folder, exp_… or not
GAFF_CODE_PARTS = re.compile(r"^s(?P<stages>[1-4]+)_r(?P<r>\d+)_is(?P<shared>[01])_mb(?P<mb>[01])$")


def experiment_id(number: int) -> str:
    return f"exp_{number:03d}"


def seed_suffix(seed: int) -> str:
    """Seed 0 keeps the bare name, so a one-seed study has the folders it always had."""
    return f"_seed{seed}" if seed else ""
