"""Transformer-style cross-attention fusion: the high-capacity end of the comparison (full
spatial interaction between the modalities, against GAFF's per-pixel gates)."""

from __future__ import annotations

from functools import partial

import torch
from timm.models.pvt_v2 import PyramidVisionTransformerV2
from torch import nn

from ..mit import LAYER_NORM_EPS, EfficientSelfAttention
from .concat import ConcatFusion
from .registry import FUSION_REGISTRY
from .spec import FusionSpec


class CrossModalAttention(nn.Module):
    """``x + attn(norm(x), context=norm_ctx(other))`` on (B, C, H, W) maps, pre-norm and
    residual as in a MiT block."""

    def __init__(self, channels: int, num_heads: int, sr_ratio: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=LAYER_NORM_EPS)
        self.norm_context = nn.LayerNorm(channels, eps=LAYER_NORM_EPS)
        self.attn = EfficientSelfAttention(channels, num_heads, sr_ratio)

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        context = self.norm_context(other.flatten(2).transpose(1, 2))
        tokens = tokens + self.attn(self.norm(tokens), h, w, context=context)
        return tokens.transpose(1, 2).reshape(b, c, h, w)


@FUSION_REGISTRY.register_as("xattn")
class CrossAttentionFusion(nn.Module):
    """RGB attends to aux and aux to RGB (separate weights), then concat + 1x1 conv + norm."""

    def __init__(self, channels: int, num_heads: int, sr_ratio: int, norm: str = "BN"):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"{channels} channels do not split into {num_heads} heads")
        self.rgb_from_aux = CrossModalAttention(channels, num_heads, sr_ratio)
        self.aux_from_rgb = CrossModalAttention(channels, num_heads, sr_ratio)
        # as a MiT block's attention starts (timm's init ignores its self)
        init = partial(PyramidVisionTransformerV2._init_weights, None)
        for attention in (self.rgb_from_aux, self.aux_from_rgb):
            attention.apply(init)
        self.merge = ConcatFusion(channels, norm)

    @classmethod
    def from_spec(cls, spec: FusionSpec, channels: int) -> CrossAttentionFusion:
        return cls(channels, spec.attn_heads, spec.attn_sr_ratio, spec.norm)

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        rgb = self.rgb_from_aux(x_rgb, x_aux)
        aux = self.aux_from_rgb(x_aux, x_rgb)
        return self.merge(rgb, aux)
