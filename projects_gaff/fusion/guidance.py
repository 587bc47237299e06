"""The WACV 2021 paper's guidance: the inter-modality gates learn where objects are.

In "Guided Attentive Feature Fusion for Multispectral Pedestrian Detection" (Zhang et al.)
the attention maps are supervised by masks drawn from the ground-truth boxes; the study
guide's block has no such loss. Here it is optional and off by default
(MODEL.GAFF.GUIDANCE_WEIGHT 0): for each fused GAFF stage the two gates, averaged over
channels, are pushed by binary cross-entropy towards the box mask at that stage's resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.structures import Instances

from ..mit import STAGE_STRIDES
from .capture import GATE_NAMES, AttentionMaps


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
