"""A fused map whose width differs from the stage's (``MODEL.GAFF.OUT_CHANNELS``).

After a fused stage both streams continue from the fused map, and the
next MiT stage expects the stage width C. The FPN gets the fused map at its own width; a
1x1 conv + norm maps it back to C for the streams.
"""

from __future__ import annotations

import torch
from detectron2.layers import get_norm
from torch import nn


class ProjectedFusion(nn.Module):
    """A fusion block producing ``out_channels`` maps, plus the projection back to C."""

    def __init__(self, block: nn.Module, channels: int, out_channels: int, norm: str = "BN"):
        super().__init__()
        self.block = block
        self.out_channels = out_channels
        self.project = nn.Sequential(
            nn.Conv2d(out_channels, channels, 1, bias=False), get_norm(norm, channels)
        )

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        """The fused map for the FPN; :attr:`project` turns it into the streams' input."""
        return self.block(x_rgb, x_aux)
