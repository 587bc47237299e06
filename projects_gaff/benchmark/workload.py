"""One benchmarked configuration: its model, a training step (the study's own
:class:`AccumulatingTrainer`) and an inference call. Batches are synthetic by default, to
isolate the model from disk and augmentation (which :mod:`.breakdown` measures)."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import torch
from detectron2.config import CfgNode
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

from ..engine import AccumulatingTrainer, GAFFTrainer, setup_cfg
from ..engine.trainer import AMP_DTYPES

# Timing does not depend on the learning rate; a tiny one keeps many steps on one
# synthetic batch from diverging (Detectron2 stops on a non-finite loss).
BENCHMARK_LR = "1e-5"
BOXES_PER_IMAGE = 8


@dataclass
class Workload:
    """A built model with its trainer, ready to time."""

    name: str
    cfg: CfgNode
    model: nn.Module
    trainer: AccumulatingTrainer
    height: int
    width: int
    storage: EventStorage = field(default_factory=EventStorage)

    def __post_init__(self):
        self.device = torch.device(self.cfg.MODEL.DEVICE)
        self.amp_dtype: torch.dtype | None = self.trainer.precision  # AMPTrainer's; None: fp32
        self.images_per_step: int = self.cfg.SOLVER.IMS_PER_BATCH
        self.channels = len(self.cfg.MODEL.PIXEL_MEAN)

    def train_step(self) -> None:
        """One optimiser step (``SOLVER.ACCUM_STEPS`` micro-batches)."""
        self.model.train()
        with self.storage:
            self.trainer.run_step()
            self.trainer.iter += 1
            self.storage.iter = self.trainer.iter

    def infer(self, batch: list[dict]) -> list[dict]:
        """Inference on ``batch`` (eval mode, no autograd, autocast as in training)."""
        self.model.eval()
        with torch.no_grad(), self.autocast():
            return self.model(batch)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def inference_batch(self, size: int) -> list[dict]:
        return synthetic_batch(size, self.channels, self.height, self.width, self.device, False)


def benchmark_cfg(
    config_file: str | Path, opts: list[str], amp: bool | None, compiled: bool | None = None
) -> CfgNode:
    """The config as the study would build it, plus ``opts``; ``amp`` and ``compiled`` None
    keep the config's SOLVER.AMP.ENABLED / MODEL.COMPILE.ENABLED, True/False override them
    (autocast only ever applies on CUDA)."""
    extra = ["SOLVER.BASE_LR", BENCHMARK_LR]
    if amp is not None:
        extra += ["SOLVER.AMP.ENABLED", str(amp)]
    if compiled is not None:
        extra += ["MODEL.COMPILE.ENABLED", str(compiled)]
    return setup_cfg(str(config_file), [*opts, *extra], resolve=False)


def build_workload(
    name: str, cfg: CfgNode, height: int, width: int, real_data: bool = False
) -> Workload:
    """Model, optimiser and trainer of ``cfg``; batches from the configured train loader
    (``real_data``) or synthetic ones of ``height`` x ``width``."""
    model = GAFFTrainer.build_model(cfg)
    optimizer = GAFFTrainer.build_optimizer(cfg, model)
    micro_batch = cfg.SOLVER.IMS_PER_BATCH // cfg.SOLVER.ACCUM_STEPS
    if real_data:
        data = GAFFTrainer.build_train_loader(cfg)
    else:
        # the same batch forever, as an infinite loader (the trainer keeps one iterator)
        data = itertools.repeat(
            synthetic_batch(micro_batch, len(cfg.MODEL.PIXEL_MEAN), height, width, "cpu", True)
        )
    amp_dtype = AMP_DTYPES[cfg.SOLVER.AMP.DTYPE] if GAFFTrainer._use_amp(cfg) else None
    trainer = AccumulatingTrainer(
        model, data, optimizer, accum_steps=cfg.SOLVER.ACCUM_STEPS, amp_dtype=amp_dtype
    )
    return Workload(name, cfg, model, trainer, height, width)


def synthetic_batch(
    size: int,
    channels: int,
    height: int,
    width: int,
    device: torch.device | str,
    with_boxes: bool,
    seed: int = 0,
) -> list[dict]:
    """``size`` random 0-255 frames shaped like the mapper's output, with boxes if asked;
    training frames stay on the CPU like a loader's (the model moves them)."""
    generator = torch.Generator().manual_seed(seed)
    batch = []
    for _ in range(size):
        image = torch.randint(0, 256, (channels, height, width), generator=generator)
        record = {"image": image.float().to(device), "height": height, "width": width}
        if with_boxes:
            size_wh = torch.tensor([width, height])
            xy = torch.rand(BOXES_PER_IMAGE, 2, generator=generator) * size_wh * 0.8
            wh = (torch.rand(BOXES_PER_IMAGE, 2, generator=generator) * 0.15 + 0.05) * size_wh
            record["instances"] = Instances(
                (height, width),
                gt_boxes=Boxes(torch.cat([xy, xy + wh], dim=1)),
                gt_classes=torch.zeros(BOXES_PER_IMAGE, dtype=torch.int64),
            )
        batch.append(record)
    return batch
