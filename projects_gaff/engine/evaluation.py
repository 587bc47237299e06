"""Validation loss, detection metrics (COCO AP, miss rate) and inference speed."""

from __future__ import annotations

import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import torch
from detectron2.config import CfgNode
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator, DatasetEvaluators
from detectron2.evaluation.evaluator import inference_context
from detectron2.utils import comm

from ..run_files import COCO_KEYS, INFERENCE_DIR, MISS_RATE_PREFIX
from .inference_loader import build_test_loader

WARMUP_BATCHES = 2  # left out of the FPS: first calls pay for allocation and kernel choice
logger = logging.getLogger(__name__)


def _coco(dataset_name: str, output_dir: str | None) -> DatasetEvaluator:
    return COCOEvaluator(dataset_name, tasks=("bbox",), distributed=True, output_dir=output_dir)


def _miss_rate(dataset_name: str, output_dir: str | None) -> DatasetEvaluator:
    from ..evaluation import MissRateEvaluator  # numpy-only; imported when asked for

    return MissRateEvaluator(dataset_name, output_dir=output_dir)


# TEST.EVALUATORS names -> factory(dataset_name, output_dir). Each evaluator's ``evaluate()``
# returns {"bbox": {COCO keys}} or {"<name>": {"MR_...": value}}; see :func:`flat_metrics`.
EVALUATORS: dict[str, Callable[[str, str | None], DatasetEvaluator]] = {
    "coco": _coco,
    "miss_rate": _miss_rate,
}


def build_evaluator(cfg: CfgNode, dataset_name: str, output_dir: str | None = None):
    """The evaluators TEST.EVALUATORS names, as one Detectron2 ``DatasetEvaluators``."""
    names = list(cfg.TEST.EVALUATORS)
    unknown = [n for n in names if n not in EVALUATORS]
    if unknown or not names:
        raise ValueError(
            f"TEST.EVALUATORS {names}: {unknown or 'empty'}; choose from {sorted(EVALUATORS)}"
        )
    return DatasetEvaluators([EVALUATORS[n](dataset_name, output_dir) for n in names])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate_detector(
    model: torch.nn.Module, loader: Iterable, evaluator: DatasetEvaluator, dataset_name: str
) -> dict:
    """The evaluator's metrics as one flat dict (:func:`flat_metrics`), plus ``frames`` and
    pure-inference FPS (model time only, synchronised, after the first batches).
    Empty on every process but the main one."""
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
    results = evaluator.evaluate() or {}
    detections = sum(comm.all_gather(detections))
    if not comm.is_main_process():
        return {}
    metrics = flat_metrics(results)
    if "bbox" in results and detections == 0:
        # Detectron2 reports NaN when nothing was detected; for the overall APs that is 0.
        logger.warning("%s: the model made no detections; AP, AP50, AP75 are 0", dataset_name)
        metrics.update(AP=0.0, AP50=0.0, AP75=0.0)
    metrics["frames"] = frames
    metrics["inference_fps"] = timed / compute if compute else None
    return metrics


def flat_metrics(results: dict) -> dict:
    """COCO's box metrics (Detectron2's 0-100 scale) and every ``MR_*`` miss rate found in
    the evaluators' results, NaN -> None."""
    metrics = {}
    if "bbox" in results:
        metrics.update({k: _finite_or_none(results["bbox"].get(k)) for k in COCO_KEYS})
    for task in results.values():
        metrics.update(
            {k: _finite_or_none(v) for k, v in task.items() if k.startswith(MISS_RATE_PREFIX)}
        )
    return metrics


def evaluate_splits(cfg: CfgNode, model: torch.nn.Module) -> dict:
    """Metrics (and inference FPS) of ``model`` on DATASETS.VAL and DATASETS.TEST."""
    results = {}
    for split, names in (("val", cfg.DATASETS.VAL), ("test", cfg.DATASETS.TEST)):
        for name in names:
            out_dir = inference_dir(cfg, name)
            key = split if len(names) == 1 else f"{split}/{name}"
            results[key] = evaluate_detector(
                model,
                build_test_loader(cfg, name),
                build_evaluator(cfg, name, out_dir),
                name,
            )
    test = results.get("test", {})
    results["inference_fps"] = test.get("inference_fps")
    return results


def inference_dir(cfg: CfgNode, dataset_name: str) -> str:
    """Where the evaluators of ``dataset_name`` write their files."""
    return os.path.join(cfg.OUTPUT_DIR, INFERENCE_DIR, dataset_name)


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
