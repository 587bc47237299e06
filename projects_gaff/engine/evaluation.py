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
from detectron2.data import build_detection_test_loader
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator, DatasetEvaluators
from detectron2.evaluation.evaluator import inference_context
from detectron2.utils import comm

from ..data import GAFFDatasetMapper
from ..evaluation.evaluator import MissRateEvaluator
from ..run_files import COCO_KEYS, INFERENCE_DIR, MISS_RATE_PREFIX

WARMUP_BATCHES = 2  # left out of the FPS: first calls pay for allocation and kernel choice
logger = logging.getLogger(__name__)


# TEST.EVALUATORS names -> factory(dataset_name, output_dir); see :func:`flat_metrics`.
EVALUATORS: dict[str, Callable[[str, str | None], DatasetEvaluator]] = {
    "coco": lambda name, out: COCOEvaluator(name, ("bbox",), distributed=True, output_dir=out),
    "miss_rate": MissRateEvaluator,
}


def build_test_loader(cfg: CfgNode, dataset_name: str) -> Iterable[list[dict]]:
    """``dataset_name``'s frames at test-time geometry, in order, one per batch."""
    mapper = GAFFDatasetMapper(cfg, is_train=False)
    return build_detection_test_loader(cfg, dataset_name, mapper=mapper)


def build_evaluator(cfg: CfgNode, dataset_name: str, output_dir: str | None = None):
    names = list(cfg.TEST.EVALUATORS)
    unknown = [n for n in names if n not in EVALUATORS]
    if unknown or not names:
        raise ValueError(
            f"TEST.EVALUATORS {names}: {unknown or 'empty'}; choose from {sorted(EVALUATORS)}"
        )
    return DatasetEvaluators([EVALUATORS[n](dataset_name, output_dir) for n in names])


@torch.no_grad()
def evaluate_detector(
    model: torch.nn.Module, loader: Iterable, evaluator: DatasetEvaluator, dataset_name: str
) -> dict:
    """Flat metrics, ``frames`` and model-only FPS (synchronised, after the first batches);
    {} off rank 0. Not ``inference_on_dataset``: that one counts 5 warm-up batches, and the
    FPS of past runs counts 2."""
    evaluator.reset()
    device = next(model.parameters()).device
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda _: None
    compute, timed, frames, detections = 0.0, 0, 0, 0
    with inference_context(model):
        for index, inputs in enumerate(loader):
            sync(device)
            start = time.perf_counter()
            outputs = model(inputs)
            sync(device)
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
    """COCO's box metrics (0-100) and every ``MR_*`` miss rate; NaN -> None."""
    metrics = {}
    if "bbox" in results:
        metrics.update({k: _finite_or_none(results["bbox"].get(k)) for k in COCO_KEYS})
    for task in results.values():
        metrics.update(
            {k: _finite_or_none(v) for k, v in task.items() if k.startswith(MISS_RATE_PREFIX)}
        )
    return metrics


def evaluate_splits(cfg: CfgNode, model: torch.nn.Module) -> dict:
    results = {}
    for split, names in (("val", cfg.DATASETS.VAL), ("test", cfg.DATASETS.TEST)):
        for name in names:
            evaluator = build_evaluator(cfg, name, inference_dir(cfg, name))
            key = split if len(names) == 1 else f"{split}/{name}"
            results[key] = evaluate_detector(model, build_test_loader(cfg, name), evaluator, name)
    results["inference_fps"] = results.get("test", {}).get("inference_fps")
    return results


def inference_dir(cfg: CfgNode, dataset_name: str) -> str:
    return os.path.join(cfg.OUTPUT_DIR, INFERENCE_DIR, dataset_name)


@torch.no_grad()
def validation_loss(model: torch.nn.Module, loader: Iterable, seed: int = 0) -> dict[str, float]:
    """Mean detection losses, leaving the training state alone: the detector in train mode
    (to return losses) but the backbone in eval mode (BatchNorm, stochastic depth), and the
    RPN/ROI sampling on a forked, seeded RNG."""
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
    names = dict.fromkeys(name for rank_sums, _ in gathered for name in rank_sums)
    losses = {n: sum(rank_sums.get(n, 0.0) for rank_sums, _ in gathered) / batches for n in names}
    losses["total_loss"] = sum(losses.values())
    return losses


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
