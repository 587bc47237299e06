"""Concatenation + 1x1 conv + norm: the simplest learned fusion ."""

from __future__ import annotations

import torch
from detectron2.layers import get_norm
from torch import nn

from .registry import FUSION_REGISTRY
from .spec import FusionSpec


@FUSION_REGISTRY.register_as("concat")
class ConcatFusion(nn.Module):
    """``norm(conv1x1([rgb, aux]))``, 2C -> C: GAFF's merge without the attention in front
    of it, so the pair isolates what SE and the inter-modality gates add."""

    def __init__(self, channels: int, norm: str = "BN"):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, channels, 1, bias=False)
        self.norm = get_norm(norm, channels)

    @classmethod
    def from_spec(cls, spec: FusionSpec, channels: int) -> ConcatFusion:
        return cls(channels, spec.norm)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(torch.cat([x_rgb, x_aux], dim=1)))
