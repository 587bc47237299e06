"""``final_results.json``: the best checkpoint evaluated on the val and test splits."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from detectron2.utils import comm

from ..atomic import atomic_write_json
from ..run_files import BEST_MODEL, CHECKPOINT_DIR, FINAL_RESULTS
from .checkpoint import StudyCheckpointer
from .evaluation import evaluate_splits
from .hooks import StudyBestCheckpointer, TrainingClock, peak_memory_mb
from .trainer import GAFFTrainer

logger = logging.getLogger(__name__)


def write_final_results(trainer: GAFFTrainer) -> dict | None:
    """Evaluate ``best_model.pth`` on DATASETS.VAL and DATASETS.TEST and write
    ``final_results.json`` (main process), as Detectron2's ``train_net.py`` tests after
    ``train()``. None when training stopped before its last iteration."""
    if trainer.iter + 1 < trainer.max_iter:
        return None
    cfg = trainer.cfg
    best = os.path.join(trainer.checkpointer.save_dir, f"{BEST_MODEL}.pth")
    comm.synchronize()  # rank 0 writes best_model.pth; the others wait for it
    StudyCheckpointer(trainer.model).load(best, checkpointables=[])
    results = evaluate_splits(cfg, trainer.model)
    if not comm.is_main_process():
        return None
    selection = trainer.hook(StudyBestCheckpointer)
    ipe = cfg.SOLVER.ITERS_PER_EPOCH
    results.update(
        {
            "best_epoch": selection.best_epoch,
            "best_iteration": selection.best_iteration,
            f"best_val_{selection.metric}": selection.best_metric,
            "epochs": (trainer.max_iter - 1) // ipe + 1,
            "iterations": trainer.max_iter,
            "training_hours": trainer.hook(TrainingClock).train_seconds / 3600,
            "peak_memory_mb": peak_memory_mb(),
            "checkpoint": f"{CHECKPOINT_DIR}/{BEST_MODEL}.pth",
            "completed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    )
    atomic_write_json(os.path.join(cfg.OUTPUT_DIR, FINAL_RESULTS), results)
    logger.info("final results: %s", results)
    return results
