"""The study's hooks; their state travels in the trainer checkpoint, so a resume is exact."""

from __future__ import annotations

import json
import logging
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from detectron2.engine import HookBase, hooks

from ..atomic import atomic_write_json
from ..run_files import BEST_MODEL, FINAL_MODEL, lower_is_better, periodic_checkpoint
from .checkpoint import StudyCheckpointer

logger = logging.getLogger(__name__)

VAL_PREFIX = "val/"  # storage names of the validation metrics (EvalHook flattens {"val": ...})
IS_BEST = "is_best"  # storage scalar, 1 at the iteration whose checkpoint became the best


def peak_memory_mb() -> float:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def evaluates_at(iteration: int, period: int, max_iter: int) -> bool:
    done = iteration + 1
    return done == max_iter or (period > 0 and done % period == 0)


class TrainingClock(HookBase):
    """Step time and peak memory per step; training time summed over every attempt's steps
    (validation and checkpoints excluded)."""

    def __init__(self):
        self.train_seconds = 0.0

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        step = time.perf_counter() - self._step_start
        self.train_seconds += step
        self.trainer.storage.put_scalars(
            step_time=step, peak_memory_mb=peak_memory_mb(), smoothing_hint=False
        )

    def state_dict(self) -> dict:
        return {"train_seconds": self.train_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.train_seconds = state["train_seconds"]


class RNGState(HookBase):
    """The global RNG states, checkpointed and restored before a resumed run's first step."""

    _to_restore: dict | None = None

    def state_dict(self) -> dict:
        name, key, *rest = np.random.get_state()
        return {
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
            "rng_python": random.getstate(),
            # weights_only checkpoints hold tensors, not numpy arrays
            "rng_numpy": (name, torch.from_numpy(key.astype(np.int64)), *rest),
        }

    def load_state_dict(self, state: dict) -> None:
        self._to_restore = state

    def before_train(self) -> None:
        state = self._to_restore
        if not state or state.get("rng_torch") is None:
            return
        torch.set_rng_state(state["rng_torch"])
        if state.get("rng_cuda") is not None and torch.cuda.is_initialized():
            torch.cuda.set_rng_state(state["rng_cuda"])
        random.setstate(state["rng_python"])
        name, key, *rest = state["rng_numpy"]
        np.random.set_state((name, key.numpy().astype(np.uint32), *rest))


class ValidationHook(hooks.EvalHook):
    """``EvalHook`` with the last evaluation after the last step, not in ``after_train``, so
    the last epoch's row, best-model decision and checkpoint come in the usual order."""

    def __init__(self, eval_period: int, eval_function: Callable[[], dict]):
        super().__init__(eval_period, eval_function, eval_after_train=False)

    def after_step(self) -> None:
        if evaluates_at(self.trainer.iter, self._period, self.trainer.max_iter):
            self._do_eval()


class StudyBestCheckpointer(hooks.BestCheckpointer):
    """``BestCheckpointer`` on TEST.SELECT_METRIC, decided right after validation so the CSV
    row and the checkpoint carry it; :meth:`publish` then hard-links best_model.pth (redone on
    resume after a kill). Ties keep the first; without a metric the latest validated wins."""

    def __init__(
        self, eval_period: int, checkpointer: StudyCheckpointer, metric: str, iters_per_epoch: int
    ):
        mode = "min" if lower_is_better(metric) else "max"
        super().__init__(eval_period, checkpointer, VAL_PREFIX + metric, mode, BEST_MODEL)
        self.metric = metric
        self.best_epoch = 0
        self._iters_per_epoch = iters_per_epoch
        self._to_publish: int | None = None
        self._warned = False

    @property
    def best_iteration(self) -> int:
        return -1 if self.best_iter is None else self.best_iter

    def state_dict(self) -> dict:
        return {
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "best_iteration": self.best_iteration,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_metric = state["best_metric"]
        self.best_epoch = state["best_epoch"]
        self.best_iter = None if state["best_iteration"] < 0 else state["best_iteration"]

    def before_train(self) -> None:
        # After a kill between a checkpoint and its best_model.pth link, redo the link.
        described = self._folder / f"{BEST_MODEL}.json"
        if self.best_iter is None or (
            described.is_file() and json.loads(described.read_text())["iteration"] == self.best_iter
        ):
            return
        if (self._folder / periodic_checkpoint(self.best_iter)).is_file():
            logger.info("Restoring best_model.pth from iteration %d", self.best_iter)
            self._publish(self.best_iter)
        else:
            logger.warning(
                "best_model.pth does not match the best epoch %d (iteration %d) and that "
                "checkpoint is gone; the next better epoch will replace it",
                self.best_epoch,
                self.best_iter,
            )

    def after_step(self) -> None:
        if evaluates_at(self.trainer.iter, self._period, self.trainer.max_iter):
            self._best_checking()

    def after_train(self) -> None:
        pass  # decided after the last step already

    def _best_checking(self) -> None:
        iteration = self.trainer.iter
        value, at = self.trainer.storage.latest().get(self._val_metric, (None, -1))
        value = value if at == iteration else None
        if value is None and not self._warned:
            logger.warning(
                "No validation %s at iteration %d (no DATASETS.VAL, or the metric is "
                "undefined): best_model.pth follows the latest validated epoch until one "
                "has it",
                self.metric,
                iteration,
            )
            self._warned = True
        if self.best_metric is None:
            better = True  # the first value, or no value yet: the latest validated epoch
        else:
            better = value is not None and self._compare(value, self.best_metric)
        if better:
            self.best_metric, self.best_iter = value, iteration
            self.best_epoch = iteration // self._iters_per_epoch + 1
            self._to_publish = iteration
        self.trainer.storage.put_scalar(IS_BEST, int(better), smoothing_hint=False)

    @property
    def _folder(self) -> Path:
        return Path(self._checkpointer.save_dir)

    def publish(self) -> None:
        if self._to_publish is not None:
            self._publish(self._to_publish)
            self._to_publish = None

    def _publish(self, iteration: int) -> None:
        source = self._folder / periodic_checkpoint(iteration)
        if not source.is_file() and iteration == self.trainer.max_iter - 1:
            source = self._folder / f"{FINAL_MODEL}.pth"
        if source.is_file():
            self._checkpointer.publish_link(str(source), f"{BEST_MODEL}.pth")
        else:
            self._checkpointer.save_best(iteration=iteration)
        record = {"iteration": iteration, "epoch": self.best_epoch}
        record[f"val_{self.metric}"] = self.best_metric
        atomic_write_json(self._folder / f"{BEST_MODEL}.json", record)


class StudyPeriodicCheckpointer(hooks.PeriodicCheckpointer):
    """Then links best_model.pth and keeps the newest ``keep`` periodic checkpoints (the best
    and final models are hard links, so they survive)."""

    def __init__(
        self, checkpointer: StudyCheckpointer, period: int, keep: int, best: StudyBestCheckpointer
    ):
        if keep < 1:
            raise ValueError(f"SOLVER.CHECKPOINTS_TO_KEEP must be >= 1, got {keep}")
        super().__init__(checkpointer, period)
        self.keep, self.best = keep, best

    def after_step(self) -> None:
        super().after_step()
        self.best.publish()
        self.checkpointer.prune(self.keep)


def upgrade_hook_state(state: dict) -> dict:
    """Trainer state written by the former single ``StudyHook`` -> the hooks above."""
    hooks_state = state.get("hooks", {})
    old = hooks_state.pop("StudyHook", None)
    if old is not None:
        hooks_state["TrainingClock"] = {"train_seconds": old["train_seconds"]}
        hooks_state["RNGState"] = {k: old.get(k) for k in ("rng_torch", "rng_python", "rng_numpy")}
        hooks_state["StudyBestCheckpointer"] = {
            "best_metric": old["best_ap"],
            "best_epoch": old["best_epoch"],
            "best_iteration": old["best_iteration"],
        }
    return state
