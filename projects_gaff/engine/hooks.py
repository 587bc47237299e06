"""The study hook: per-batch and per-epoch CSVs, validation, best checkpoint, final results.

Every number comes from Detectron2's ``EventStorage`` (losses, lr, data and step time)
or from the evaluation this hook runs; the hook's own state (best so far, training time,
RNG) travels inside the trainer checkpoint, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import resource
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm
from fvcore.common.checkpoint import PeriodicCheckpointer

from ..atomic import AppendOnlyCsv, atomic_write_json, read_csv
from .checkpoint import BEST_NAME
from .evaluation import COCO_KEYS

logger = logging.getLogger(__name__)

BATCH_FIXED = ["iteration", "epoch", "batch", "total_loss"]
BATCH_TIMING = ["lr", "data_time", "step_time", "peak_memory_mb"]
EPOCH_FIXED = ["epoch", "iteration"]
EPOCH_TAIL = ["lr", "epoch_time_s", "is_best"]


def peak_memory_mb() -> float:
    """Peak CUDA memory allocated by this process, or its peak RSS on the CPU."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class StudyHook(HookBase):
    """Writes the study's files into the trainer's output folder (main process only).

    ``metrics_per_batch.csv``: one row per iteration. ``metrics_per_epoch.csv``: one row per
    epoch with mean train losses, validation loss and COCO AP. ``checkpoints/best_model.pth``
    is the checkpoint of the best validation AP. ``final_results.json`` is written once the
    last iteration is done, from the best checkpoint evaluated on the val and test splits.
    """

    def __init__(
        self,
        iters_per_epoch: int,
        eval_epochs: int,
        checkpoint_period: int,
        checkpoints_to_keep: int,
    ):
        self.iters_per_epoch = iters_per_epoch
        self.eval_epochs = max(1, eval_epochs)
        self.checkpoint_period = checkpoint_period
        self.checkpoints_to_keep = checkpoints_to_keep
        self.best_ap: float | None = None
        self.best_epoch = 0
        self.best_iteration = -1
        self.train_seconds = 0.0
        self._rng_to_restore: dict | None = None
        self._batch_csv: AppendOnlyCsv | None = None
        self._epoch_csv: AppendOnlyCsv | None = None
        self._epoch_rows: list[dict] = []

    # ---- checkpointed state ------------------------------------------------------
    def state_dict(self) -> dict:
        np_state = np.random.get_state()
        return {
            "best_ap": self.best_ap,
            "best_epoch": self.best_epoch,
            "best_iteration": self.best_iteration,
            "train_seconds": self.train_seconds,
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
            "rng_python": random.getstate(),
            "rng_numpy": (
                np_state[0],
                torch.from_numpy(np_state[1].astype(np.int64)),
                *np_state[2:],
            ),
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_ap = state["best_ap"]
        self.best_epoch = state["best_epoch"]
        self.best_iteration = state["best_iteration"]
        self.train_seconds = state["train_seconds"]
        self._rng_to_restore = state

    # ---- training loop -----------------------------------------------------------
    @property
    def output_dir(self) -> Path:
        return Path(self.trainer.cfg.OUTPUT_DIR)

    def epoch_of(self, iteration: int) -> int:
        return iteration // self.iters_per_epoch + 1

    def before_train(self) -> None:
        if self._rng_to_restore:
            state = self._rng_to_restore
            torch.set_rng_state(state["rng_torch"])
            if state.get("rng_cuda") is not None and torch.cuda.is_initialized():
                torch.cuda.set_rng_state(state["rng_cuda"])
            random.setstate(state["rng_python"])
            name, key, *rest = state["rng_numpy"]
            np.random.set_state((name, key.numpy().astype(np.uint32), *rest))
        start = self.trainer.start_iter
        self._last_time = time.perf_counter()
        self._epoch_start = time.perf_counter()
        if not comm.is_main_process():
            return
        self._periodic = PeriodicCheckpointer(
            self.trainer.checkpointer,
            self.checkpoint_period,
            self.trainer.max_iter,
            self.checkpoints_to_keep,
        )
        self._reconcile_best()
        done_epochs = start // self.iters_per_epoch
        self._epoch_csv_keep = lambda row: int(row["epoch"]) <= done_epochs
        self._batch_csv_keep = lambda row: int(row["iteration"]) < start
        # Resume: the rows of the epoch in progress feed that epoch's mean train losses.
        self._epoch_rows = [
            r
            for r in read_csv(self.output_dir / "metrics_per_batch.csv")
            if self._batch_csv_keep(r) and int(r["epoch"]) == self.epoch_of(start)
        ]

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        now = time.perf_counter()
        self.trainer.storage.put_scalars(
            step_time=now - self._step_start, peak_memory_mb=peak_memory_mb(), smoothing_hint=False
        )
        self.train_seconds += now - self._last_time
        iteration = self.trainer.iter
        last = iteration + 1 >= self.trainer.max_iter
        epoch_end = (iteration + 1) % self.iters_per_epoch == 0 or last
        is_best = False
        if comm.is_main_process():
            self._write_batch_row(iteration)
        if epoch_end:
            epoch = self.epoch_of(iteration)
            validate = epoch % self.eval_epochs == 0 or last
            val = self.trainer.validate() if validate else {}
            if comm.is_main_process():
                is_best = self._end_epoch(iteration, val, now)
        if comm.is_main_process():
            # Periodic checkpoint first (it carries the updated best-so-far), then
            # best_model.pth from it: a kill between the two is repaired on resume.
            self._periodic.step(iteration)
            if is_best:
                self._publish_best(iteration)
        self._last_time = time.perf_counter()

    def _write_batch_row(self, iteration: int) -> None:
        storage = self.trainer.storage
        latest = {k: v for k, (v, it) in storage.latest().items() if it == iteration}
        loss_names = sorted(k for k in latest if k.startswith("loss_"))
        if self._batch_csv is None:
            columns = BATCH_FIXED + loss_names + BATCH_TIMING
            self._batch_csv = AppendOnlyCsv(
                self.output_dir / "metrics_per_batch.csv", columns, self._batch_csv_keep
            )
        row = {
            "iteration": iteration,
            "epoch": self.epoch_of(iteration),
            "batch": iteration % self.iters_per_epoch + 1,
            "total_loss": latest.get("total_loss"),
            **{k: latest[k] for k in loss_names},
            "lr": latest.get("lr"),
            "data_time": latest.get("data_time"),
            "step_time": latest.get("step_time"),
            "peak_memory_mb": latest.get("peak_memory_mb"),
        }
        self._batch_csv.append(row)
        self._epoch_rows.append(row)

    def _end_epoch(self, iteration: int, val: dict, now: float) -> bool:
        epoch = self.epoch_of(iteration)
        loss_names = [
            "total_loss",
            *sorted(k for k in self._epoch_rows[-1] if k.startswith("loss_")),
        ]
        train = {f"train_{k}": _mean(float(r[k]) for r in self._epoch_rows) for k in loss_names}
        val_losses = {f"val_{k}": val.get("loss", {}).get(k) for k in loss_names}
        val_ap = {f"val_{k}": val.get("coco", {}).get(k) for k in COCO_KEYS}
        is_best = self._update_best(val_ap["val_AP"], epoch, iteration)
        if self._epoch_csv is None:
            columns = EPOCH_FIXED + list(train) + list(val_losses) + list(val_ap) + EPOCH_TAIL
            self._epoch_csv = AppendOnlyCsv(
                self.output_dir / "metrics_per_epoch.csv", columns, self._epoch_csv_keep
            )
        self._epoch_csv.append(
            {
                "epoch": epoch,
                "iteration": iteration,
                **train,
                **val_losses,
                **val_ap,
                "lr": self._epoch_rows[-1]["lr"],
                "epoch_time_s": now - self._epoch_start,
                "is_best": int(is_best),
            }
        )
        scalars = {
            k.replace("val_", "val/", 1): v
            for k, v in {**val_losses, **val_ap}.items()
            if v is not None
        }
        scalars.update({k.replace("train_", "epoch/train_", 1): v for k, v in train.items()})
        self.trainer.storage.put_scalars(**scalars, smoothing_hint=False)
        self._epoch_rows = []
        self._epoch_start = time.perf_counter()
        return is_best

    def _update_best(self, val_ap: float | None, epoch: int, iteration: int) -> bool:
        """Is this epoch the best so far? Highest val AP, the first on ties; without a
        validation split (or before any AP exists) the latest epoch."""
        no_ap_yet = self.best_ap is None
        improved = val_ap is not None and (no_ap_yet or val_ap > self.best_ap)
        if not (improved or (no_ap_yet and val_ap is None)):
            return False
        self.best_ap, self.best_epoch, self.best_iteration = val_ap, epoch, iteration
        return True

    @property
    def _checkpoint_dir(self) -> Path:
        return Path(self.trainer.checkpointer.save_dir)

    def _publish_best(self, iteration: int) -> None:
        """``best_model.pth`` := the checkpoint of ``iteration`` (a hard link when the
        periodic checkpointer just wrote one), plus ``best_model.json`` describing it."""
        folder = self._checkpoint_dir
        source = folder / f"model_{iteration:07d}.pth"
        if not source.is_file() and iteration == self.trainer.max_iter - 1:
            source = folder / "model_final.pth"
        if source.is_file():
            tmp = folder / f".{BEST_NAME}.link"
            tmp.unlink(missing_ok=True)
            os.link(source, tmp)
            os.replace(tmp, folder / f"{BEST_NAME}.pth")
        else:
            self.trainer.checkpointer.save_best(iteration=iteration)
        record = {"iteration": iteration, "epoch": self.best_epoch, "val_AP": self.best_ap}
        atomic_write_json(folder / f"{BEST_NAME}.json", record)

    def _reconcile_best(self) -> None:
        """After a kill between a checkpoint and its best_model.pth, redo the link."""
        if self.best_iteration < 0:
            return
        described = self._checkpoint_dir / f"{BEST_NAME}.json"
        if (
            described.is_file()
            and json.loads(described.read_text())["iteration"] == self.best_iteration
        ):
            return
        if (self._checkpoint_dir / f"model_{self.best_iteration:07d}.pth").is_file():
            logger.info("Restoring best_model.pth from iteration %d", self.best_iteration)
            self._publish_best(self.best_iteration)
        else:
            logger.warning(
                "best_model.pth does not match the best epoch %d (iteration %d) and that "
                "checkpoint is gone; the next better epoch will replace it",
                self.best_epoch,
                self.best_iteration,
            )

    def after_train(self) -> None:
        if self.trainer.iter < self.trainer.max_iter:  # stopped early (error): no results
            return
        results = self.trainer.final_evaluation()
        if not comm.is_main_process():
            return
        results.update(
            best_epoch=self.best_epoch,
            best_iteration=self.best_iteration,
            best_val_AP=self.best_ap,
            epochs=self.epoch_of(self.trainer.max_iter - 1),
            iterations=self.trainer.max_iter,
            training_hours=self.train_seconds / 3600,
            peak_memory_mb=peak_memory_mb(),
            checkpoint="checkpoints/best_model.pth",
            completed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        atomic_write_json(self.output_dir / "final_results.json", results)
        logger.info("final results: %s", results)


def _mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values) if values else float("nan")
