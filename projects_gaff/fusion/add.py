"""Element-wise addition: the parameter-free fusion baseline of the guide's §8.2."""

from __future__ import annotations

import torch
from torch import nn


class AddFusion(nn.Module):
    """``rgb + aux``: what fusion gives without any learned weighting."""

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        return x_rgb + x_aux


def add_param_count(channels: int) -> int:
    """Addition learns nothing, at any width."""
    return 0
