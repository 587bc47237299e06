"""Gated GAFF: a learned gate decides, per channel and position, how
much of the GAFF output replaces the RGB features."""

from __future__ import annotations

import torch
from torch import nn

from .gaff import GAFFBlock
from .registry import FUSION_REGISTRY
from .spec import FusionSpec


class FusionGate(nn.Module):
    """``sigmoid(conv1x1([rgb, aux]))``, 2C -> C with a bias (so the gate can start open or
    closed independently of the features)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(torch.cat([x_rgb, x_aux], dim=1)))


@FUSION_REGISTRY.register_as("gated")
class GatedGAFF(nn.Module):
    """``gate * GAFF(rgb, aux) + (1 - gate) * rgb``: the fused map falls back to the RGB
    features where the gate judges fusion unhelpful. The GAFF block must keep the width C."""

    def __init__(self, gaff: GAFFBlock, channels: int):
        super().__init__()
        self.gaff = gaff
        self.gate = FusionGate(channels)

    @classmethod
    def from_spec(cls, spec: FusionSpec, channels: int) -> GatedGAFF:
        return cls(GAFFBlock(channels, **spec.gaff_options()), channels)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        gate = self.gate(x_rgb, x_aux)
        return gate * self.gaff(x_rgb, x_aux) + (1 - gate) * x_rgb
