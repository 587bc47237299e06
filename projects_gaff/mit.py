"""Mix Transformer (MiT) encoder of SegFormer, sizes b0-b5, written for this project.

Parameter names follow the NVlabs SegFormer checkpoints (``patch_embed1.proj``,
``block1.0.attn.kv``, ``norm1`` ...) so their ImageNet weights load without renaming;
Hugging Face files are mapped by :mod:`projects_gaff.weights`. Attention runs through
``torch.nn.functional.scaled_dot_product_attention``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import nn

LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class MiTSpec:
    """Per-stage hyper-parameters of one MiT size (DESIGN_NOTES §4)."""

    dims: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    heads: tuple[int, int, int, int] = (1, 2, 5, 8)
    sr_ratios: tuple[int, int, int, int] = (8, 4, 2, 1)
    mlp_ratio: int = 4


_WIDE = (64, 128, 320, 512)
MIT_SPECS: dict[str, MiTSpec] = {
    "mit_b0": MiTSpec(dims=(32, 64, 160, 256), depths=(2, 2, 2, 2)),
    "mit_b1": MiTSpec(dims=_WIDE, depths=(2, 2, 2, 2)),
    "mit_b2": MiTSpec(dims=_WIDE, depths=(3, 4, 6, 3)),
    "mit_b3": MiTSpec(dims=_WIDE, depths=(3, 4, 18, 3)),
    "mit_b4": MiTSpec(dims=_WIDE, depths=(3, 8, 27, 3)),
    "mit_b5": MiTSpec(dims=_WIDE, depths=(3, 6, 40, 3)),
}
STAGE_STRIDES = (4, 8, 16, 32)


class OverlapPatchEmbed(nn.Module):
    """Strided convolution with overlapping windows, then LayerNorm over channels."""

    def __init__(self, in_chans: int, dim: int, patch_size: int, stride: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch_size, stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, h, w = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from a map shrunk by ``sr_ratio``.

    Self-attention in the MiT; given a ``context`` (tokens of another map of the same
    grid), queries come from ``x`` and keys/values from the context: the cross-attention
    fusion (:mod:`projects_gaff.fusion.cross_attention`).
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def forward(
        self, x: torch.Tensor, h: int, w: int, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, n, c = x.shape
        head_dim = c // self.num_heads
        q = self.q(x).reshape(b, n, self.num_heads, head_dim).transpose(1, 2)
        source = x if context is None else context
        if self.sr_ratio > 1:
            source = source.transpose(1, 2).reshape(b, c, h, w)
            source = self.norm(self.sr(source).flatten(2).transpose(1, 2))
        kv = self.kv(source).reshape(b, -1, 2, self.num_heads, head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class DepthwiseConv(nn.Module):
    """3x3 depth-wise conv on the token grid: MiT's positional signal (the "Mix-FFN")."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w))
        return x.flatten(2).transpose(1, 2)


class MixFFN(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DepthwiseConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), h, w)))


class MiTBlock(nn.Module):
    """Pre-norm transformer block: efficient attention, then Mix-FFN, both residual."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: int, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = EfficientSelfAttention(dim, num_heads, sr_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = MixFFN(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x), h, w))


class MixVisionTransformer(nn.Module):
    """The four-stage MiT encoder.

    ``num_stages`` < 4 builds only the first stages (a stream whose later stages would never
    be used). :meth:`forward_stage` runs one stage so that a caller can fuse streams between
    stages; :meth:`forward` returns every stage's (B, C_i, H/s_i, W/s_i) map.
    """

    def __init__(
        self,
        spec: MiTSpec,
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
        num_stages: int = 4,
    ):
        super().__init__()
        self.spec = spec
        self.num_stages = num_stages
        n_blocks = sum(spec.depths)
        rates = [drop_path_rate * i / max(n_blocks - 1, 1) for i in range(n_blocks)]
        first_block = 0
        for i in range(num_stages):
            stage = i + 1
            patch_size, stride = (7, 4) if i == 0 else (3, 2)
            in_dim = in_chans if i == 0 else spec.dims[i - 1]
            dim = spec.dims[i]
            setattr(self, f"patch_embed{stage}", OverlapPatchEmbed(in_dim, dim, patch_size, stride))
            blocks = [
                MiTBlock(
                    dim, spec.heads[i], spec.sr_ratios[i], spec.mlp_ratio, rates[first_block + j]
                )
                for j in range(spec.depths[i])
            ]
            setattr(self, f"block{stage}", nn.ModuleList(blocks))
            setattr(self, f"norm{stage}", nn.LayerNorm(dim, eps=LAYER_NORM_EPS))
            first_block += spec.depths[i]
        self.apply(init_mit_weights)

    def forward_stage(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """Run stage ``stage`` (1-4) on a (B, C, H, W) map; return (B, C_stage, H', W')."""
        x, h, w = getattr(self, f"patch_embed{stage}")(x)
        for block in getattr(self, f"block{stage}"):
            x = block(x, h, w)
        x = getattr(self, f"norm{stage}")(x)
        return x.transpose(1, 2).reshape(x.shape[0], -1, h, w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in range(1, self.num_stages + 1):
            x = self.forward_stage(stage, x)
            features.append(x)
        return features


def init_mit_weights(m: nn.Module) -> None:
    """SegFormer's initialisation: truncated-normal linears, fan-out-scaled convs."""
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
