"""Gated GAFF (guide §8.1 item 4): a learned gate decides, per channel and position, how
much of the GAFF output replaces the RGB features."""

from __future__ import annotations

import torch
from torch import nn

from ..gaff import GAFFBlock, gaff_param_count


class FusionGate(nn.Module):
    """``sigmoid(conv1x1([rgb, aux]))``, 2C -> C with a bias (so the gate can start open or
    closed independently of the features)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(torch.cat([x_rgb, x_aux], dim=1)))


class GatedGAFF(nn.Module):
    """``gate * GAFF(rgb, aux) + (1 - gate) * rgb``: the fused map falls back to the RGB
    features where the gate judges fusion unhelpful. The GAFF block must keep the width C."""

    def __init__(self, gaff: GAFFBlock, channels: int):
        super().__init__()
        self.gaff = gaff
        self.gate = FusionGate(channels)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        gate = self.gate(x_rgb, x_aux)
        return gate * self.gaff(x_rgb, x_aux) + (1 - gate) * x_rgb


def gated_param_count(channels: int, **gaff_options) -> int:
    """The GAFF block's count plus the gate's 2C² weights and C biases."""
    return gaff_param_count(channels, **gaff_options) + 2 * channels * channels + channels
