"""The WACV 2021 GAFF paper's guidance loss (README, "Fusion methods"), which the study
guide's block lacks: the inter-modality gates learn the ground-truth box masks. ``GuidedRCNN``
is the detector that applies it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Instances

from ..mit import STAGE_STRIDES
from .capture import GATE_NAMES, AttentionMaps, capture_attention


def box_masks(instances: list[Instances], size: tuple[int, int], stride: int) -> torch.Tensor:
    """(B, 1, h, w) float masks: 1 in every cell of a stride-``stride`` grid that a box
    overlaps (so a box smaller than a cell still marks one), 0 elsewhere."""
    h, w = size
    masks = []
    for inst in instances:
        boxes = inst.gt_boxes.tensor
        ys = torch.arange(h, device=boxes.device, dtype=boxes.dtype) * stride
        xs = torch.arange(w, device=boxes.device, dtype=boxes.dtype) * stride
        rows = (ys + stride > boxes[:, 1:2]) & (ys < boxes[:, 3:4])  # (N, h)
        cols = (xs + stride > boxes[:, 0:1]) & (xs < boxes[:, 2:3])  # (N, w)
        masks.append((rows[:, :, None] & cols[:, None, :]).any(dim=0))
    return torch.stack(masks)[:, None].float()


def guidance_loss(maps: AttentionMaps, instances: list[Instances]) -> torch.Tensor:
    """Mean binary cross-entropy between each channel-averaged gate and its box mask."""
    terms = []
    for stage, entries in sorted(maps.items()):
        for name in GATE_NAMES:
            if name not in entries:
                continue
            gate = entries[name].float().mean(dim=1, keepdim=True)
            mask = box_masks(instances, gate.shape[-2:], STAGE_STRIDES[stage - 1])
            # binary_cross_entropy refuses to run under autocast; the maps are fp32 here.
            with torch.autocast(gate.device.type, enabled=False):
                terms.append(F.binary_cross_entropy(gate, mask.to(gate.device)))
    if not terms:
        raise RuntimeError("no inter-modality gate was recorded: is a GAFF stage fused?")
    return torch.stack(terms).mean()


@META_ARCH_REGISTRY.register()
class GuidedRCNN(GeneralizedRCNN):
    """In training, adds ``loss_guidance`` = MODEL.GAFF.GUIDANCE_WEIGHT x :func:`guidance_loss`
    of the gates captured in its own forward pass, so the backbone never sees the boxes. With
    weight 0 it is exactly GeneralizedRCNN."""

    @configurable
    def __init__(self, *, guidance_weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.guidance_weight = guidance_weight

    @classmethod
    def from_config(cls, cfg) -> dict:
        return {**super().from_config(cfg), "guidance_weight": cfg.MODEL.GAFF.GUIDANCE_WEIGHT}

    def forward(self, batched_inputs: list[dict]):
        if not self.training or not self.guidance_weight:
            return super().forward(batched_inputs)
        with capture_attention(self.backbone, detach=False) as maps:
            losses = super().forward(batched_inputs)
        instances = [x["instances"].to(self.device) for x in batched_inputs]
        losses["loss_guidance"] = self.guidance_weight * guidance_loss(maps, instances)
        return losses
