"""Event writers of a run folder, each cut back to the checkpoint on resume (one timeline)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

from detectron2.utils.events import EventWriter, JSONWriter, TensorboardXWriter, get_event_storage

from ..atomic import AppendOnlyCsv, read_csv
from ..run_files import D2_METRICS, METRICS_PER_BATCH, METRICS_PER_EPOCH
from .hooks import IS_BEST, VAL_PREFIX

BATCH_FIXED = ["iteration", "epoch", "batch", "total_loss"]
BATCH_TIMING = ["lr", "data_time", "step_time", "peak_memory_mb"]
EPOCH_FIXED = ["epoch", "iteration"]
EPOCH_TAIL = ["lr", "epoch_time_s", IS_BEST]


class StudyCsvWriter(EventWriter):
    """metrics_per_batch.csv and metrics_per_epoch.csv from the ``EventStorage``; run every
    step, before the periodic checkpoint, so every row up to a checkpoint is on disk with it.
    Miss-rate columns join the epoch header when first reported."""

    def __init__(
        self,
        output_dir: str,
        iters_per_epoch: int,
        max_iter: int,
        start_iter: Callable[[], int],
        coco_keys: tuple[str, ...],
    ):
        self.iters_per_epoch, self.max_iter = iters_per_epoch, max_iter
        self._batch_path = Path(output_dir) / METRICS_PER_BATCH
        self._epoch_path = Path(output_dir) / METRICS_PER_EPOCH
        self._start_iter = start_iter
        self._coco_keys = coco_keys
        self._batch_csv: AppendOnlyCsv | None = None
        self._epoch_csv: AppendOnlyCsv | None = None
        self._epoch_rows: list[dict] | None = None
        self._last_write = -1

    def epoch_of(self, iteration: int) -> int:
        return iteration // self.iters_per_epoch + 1

    def write(self) -> None:
        storage = get_event_storage()
        iteration = storage.iter
        latest = {k: v for k, (v, it) in storage.latest().items() if it == iteration}
        # Once per finished step: not again in after_train, not for a step that failed.
        if iteration <= self._last_write or "total_loss" not in latest:
            return
        self._last_write = iteration
        if self._epoch_rows is None:  # first write: keep the rows before the start
            start = self._start_iter()
            self._keep_batch = lambda r: int(r["iteration"]) < start
            self._keep_epoch = lambda r: int(r["epoch"]) <= start // self.iters_per_epoch
            # The kept rows of the epoch in progress feed that epoch's means.
            self._epoch_rows = [
                r
                for r in read_csv(self._batch_path)
                if self._keep_batch(r) and int(r["epoch"]) == self.epoch_of(start)
            ]
        row = self._batch_row(iteration, latest)
        self._epoch_rows.append(row)
        if (iteration + 1) % self.iters_per_epoch == 0 or iteration + 1 >= self.max_iter:
            self._write_epoch(iteration, latest)

    def _batch_row(self, iteration: int, latest: dict) -> dict:
        loss_names = sorted(k for k in latest if k.startswith("loss_"))
        if self._batch_csv is None:
            columns = BATCH_FIXED + loss_names + BATCH_TIMING
            self._batch_csv = AppendOnlyCsv(self._batch_path, columns, self._keep_batch)
        row = {
            "iteration": iteration,
            "epoch": self.epoch_of(iteration),
            "batch": iteration % self.iters_per_epoch + 1,
            **{k: latest.get(k) for k in ["total_loss", *loss_names, *BATCH_TIMING]},
        }
        self._batch_csv.append(row)
        return row

    def _write_epoch(self, iteration: int, latest: dict) -> None:
        rows = self._epoch_rows
        loss_names = ["total_loss", *sorted(k for k in rows[-1] if k.startswith("loss_"))]
        train = {f"train_{k}": math.fsum(float(r[k]) for r in rows) / len(rows) for k in loss_names}
        val = {
            "val_" + k[len(VAL_PREFIX) :]: v for k, v in latest.items() if k.startswith(VAL_PREFIX)
        }
        row = {
            "epoch": self.epoch_of(iteration),
            "iteration": iteration,
            **train,
            **val,
            "lr": rows[-1]["lr"],
            "epoch_time_s": math.fsum(float(r["step_time"]) for r in rows),
            IS_BEST: int(latest.get(IS_BEST, 0)),
        }
        val_losses = [f"val_{k}" for k in loss_names]
        val_metrics = [f"val_{k}" for k in self._coco_keys]
        val_metrics += sorted(k for k in val if k not in val_losses and k not in val_metrics)
        columns = EPOCH_FIXED + list(train) + val_losses + val_metrics + EPOCH_TAIL
        if self._epoch_csv is None or not set(columns) <= set(self._epoch_csv.columns):
            # First row, or a metric that appeared now: (re)open with the union of columns.
            known = self._epoch_csv.columns if self._epoch_csv else _header(self._epoch_path)
            extra = [c for c in known if c not in columns]
            at = columns.index(EPOCH_TAIL[0])
            columns = columns[:at] + extra + columns[at:]
            self._epoch_csv = AppendOnlyCsv(self._epoch_path, columns, self._keep_epoch)
        self._epoch_csv.append(row)
        storage = get_event_storage()
        storage.put_scalars(**{f"epoch/{k}": v for k, v in train.items()}, smoothing_hint=False)
        self._epoch_rows = []


class ResumedJSONWriter(JSONWriter):
    """Drops the lines past the checkpoint (the killed attempt's) before the first write."""

    def __init__(self, output_dir: str, start_iter: Callable[[], int], window_size: int = 20):
        self._path = os.path.join(output_dir, D2_METRICS)
        super().__init__(self._path, window_size)
        self._start_iter = start_iter
        self._trimmed = False

    def write(self) -> None:
        if not self._trimmed:
            trim_json_lines(self._path, self._start_iter())
            self._trimmed = True
        super().write()


def trim_json_lines(path: str, start_iter: int) -> None:
    """Keep the lines before ``start_iter``, in place: the writer appends at the new end."""
    if start_iter <= 0 or not os.path.isfile(path):
        return
    with open(path, "r+", encoding="utf-8") as f:
        kept = []
        for line in f:
            try:
                if json.loads(line)["iteration"] < start_iter:
                    kept.append(line)
            except (ValueError, KeyError):
                continue
        f.seek(0)
        f.writelines(kept)
        f.truncate()


class ResumedTensorboardWriter(TensorboardXWriter):
    """Purges the events from the checkpoint on (TensorBoard's ``purge_step``)."""

    def __init__(self, output_dir: str, start_iter: Callable[[], int], window_size: int = 20):
        super().__init__(output_dir, window_size)
        self._start_iter = start_iter

    def write(self) -> None:
        if "_writer" not in self.__dict__ and self._start_iter() > 0:  # before it is opened
            self._writer_args["purge_step"] = self._start_iter()
        super().write()


def _header(path: Path) -> list[str]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return f.readline().strip().split(",")
