"""Element-wise addition: the parameter-free fusion baseline."""

from __future__ import annotations

import torch
from torch import nn

from .registry import FUSION_REGISTRY
from .spec import FusionSpec


@FUSION_REGISTRY.register_as("add")
class AddFusion(nn.Module):
    """``rgb + aux``: what fusion gives without any learned weighting."""

    @classmethod
    def from_spec(cls, spec: FusionSpec, channels: int) -> AddFusion:
        return cls()

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        return x_rgb + x_aux
