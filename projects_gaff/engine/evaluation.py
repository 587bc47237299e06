"""Validation loss, COCO metrics and inference speed of a detector on one dataset."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable

import torch
from detectron2.evaluation import COCOEvaluator
from detectron2.evaluation.evaluator import inference_context
from detectron2.utils import comm

COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
WARMUP_BATCHES = 2  # left out of the FPS: first calls pay for allocation and kernel choice
logger = logging.getLogger(__name__)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate_coco(
    model: torch.nn.Module, loader: Iterable, dataset_name: str, output_dir: str
) -> dict:
    """COCO box metrics (Detectron2's 0-100 scale; NaN -> None) plus pure-inference FPS
    (model time only, synchronised, after the first batches)."""
    evaluator = COCOEvaluator(
        dataset_name, tasks=("bbox",), distributed=True, output_dir=output_dir
    )
    evaluator.reset()
    device = next(model.parameters()).device
    compute, timed, frames, detections = 0.0, 0, 0, 0
    with inference_context(model):
        for index, inputs in enumerate(loader):
            _sync(device)
            start = time.perf_counter()
            outputs = model(inputs)
            _sync(device)
            if index >= WARMUP_BATCHES:
                compute += time.perf_counter() - start
                timed += len(inputs)
            frames += len(inputs)
            detections += sum(len(o["instances"]) for o in outputs)
            evaluator.process(inputs, outputs)
    results = evaluator.evaluate()
    detections = sum(comm.all_gather(detections))
    if not comm.is_main_process():
        return {}
    metrics = {k: _finite_or_none((results or {}).get("bbox", {}).get(k)) for k in COCO_KEYS}
    if detections == 0:
        # Detectron2 reports NaN when nothing was detected; for the overall APs that is 0.
        logger.warning("%s: the model made no detections; AP, AP50, AP75 are 0", dataset_name)
        metrics.update(AP=0.0, AP50=0.0, AP75=0.0)
    metrics["frames"] = frames
    metrics["inference_fps"] = timed / compute if compute else None
    return metrics


@torch.no_grad()
def validation_loss(model: torch.nn.Module, loader: Iterable, seed: int = 0) -> dict[str, float]:
    """Mean detection losses on annotated frames without changing any training state.

    The detector must be in training mode to return losses; the backbone is put in eval
    mode meanwhile so that BatchNorm statistics and stochastic depth stay untouched, and
    the RPN/ROI sampling uses its own seeded RNG so the training RNG stream is unchanged.
    """
    module = model.module if hasattr(model, "module") else model
    was_training = module.training
    module.train()
    module.backbone.eval()
    sums: dict[str, float] = defaultdict(float)
    batches = 0
    try:
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for inputs in loader:
                for name, value in module(inputs).items():
                    sums[name] += float(value)
                batches += 1
    finally:
        module.train(was_training)
    gathered = comm.all_gather((dict(sums), batches))
    batches = sum(n for _, n in gathered)
    if not batches:
        return {}
    totals: dict[str, float] = defaultdict(float)
    for rank_sums, _ in gathered:
        for name, value in rank_sums.items():
            totals[name] += value
    losses = {name: total / batches for name, total in totals.items()}
    losses["total_loss"] = sum(losses.values())
    return losses


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
