"""Channel Switching and Spatial Attention (CSSA; Cao et al., CVPRW 2023 / PBVS).

One deliberate deviation (README, "Fusion methods"): a kept channel is also scaled by its
ECA score, as in ECA's own paper; used only for the hard switch, the ECA kernels would get
no gradient and never train.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .registry import FUSION_REGISTRY
from .spec import FusionSpec

CSSA_THRESHOLDS = (0.3, 0.5, 0.7)  # the values the earlier study compared


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel size: |log2(C)/γ + b/γ| rounded up to an odd number."""
    k = int(abs((math.log2(channels) + b) / gamma))
    return k if k % 2 else k + 1


class ECA(nn.Module):
    """Efficient Channel Attention's (B, C) channel scores (not the rescaled map, so the
    switching can use them): global average pool, 1-D conv across channels, sigmoid."""

    def __init__(self, kernel_size: int):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"ECA kernel size {kernel_size} must be a positive odd number "
                "(MODEL.FUSION.CSSA.KERNEL_SIZE; 0 picks ECA's adaptive size)"
            )
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x.mean(dim=(2, 3))[:, None, :]))[:, 0]


class SpatialAttention(nn.Module):
    """The (B, 1, H, W) map sigmoid(mean_c) * sigmoid(max_c) of the concatenated modalities."""

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        both = torch.cat([x_rgb, x_aux], dim=1)
        return torch.sigmoid(both.mean(dim=1, keepdim=True)) * torch.sigmoid(
            both.amax(dim=1, keepdim=True)
        )


@FUSION_REGISTRY.register_as("cssa")
class CSSABlock(nn.Module):
    """A channel scoring below ``threshold`` is switched to the other modality's; the
    spatial map then weights the mean of the two modalities."""

    def __init__(self, channels: int, threshold: float = 0.5, kernel_size: int = 0):
        super().__init__()
        if not 0.0 < threshold < 1.0:
            raise ValueError(
                f"CSSA switching threshold {threshold} must lie in (0, 1) (ECA scores are "
                f"sigmoids); the study used {list(CSSA_THRESHOLDS)}"
            )
        kernel_size = kernel_size or eca_kernel_size(channels)
        self.threshold = threshold
        self.eca_rgb = ECA(kernel_size)
        self.eca_aux = ECA(kernel_size)
        self.spatial = SpatialAttention()

    @classmethod
    def from_spec(cls, spec: FusionSpec, channels: int) -> CSSABlock:
        return cls(channels, spec.cssa_threshold, spec.cssa_kernel_size)

    def _switch(self, x: torch.Tensor, other: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores[:, :, None, None]
        return torch.where(scores < self.threshold, other, scores * x)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        rgb = self._switch(x_rgb, x_aux, self.eca_rgb(x_rgb))
        aux = self._switch(x_aux, x_rgb, self.eca_aux(x_aux))
        return self.spatial(rgb, aux) * (rgb + aux) / 2
