"""Guided Attentive Feature Fusion block (Zhang et al., WACV 2021), as the study guide
specifies it (README, "Fusion methods"): no conv biases, the configured norm in the merge."""

from __future__ import annotations

import torch
from detectron2.layers import get_norm
from torch import nn

from .registry import FUSION_REGISTRY
from .spec import FusionSpec

INTER_MODES = ("separate", "shared", "tied")


class SEBlock(nn.Module):
    """Squeeze-and-excitation: global pool, C -> C/r -> C, sigmoid channel weights."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        if reduction < 1 or channels % reduction:
            raise ValueError(
                f"SE reduction {reduction} must be a positive divisor of the stage width "
                f"{channels}; use MODEL.GAFF.SE_REDUCTION 4 or 8"
            )
        self.fc1 = nn.Linear(channels, channels // reduction, bias=False)
        self.fc2 = nn.Linear(channels // reduction, channels, bias=False)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, C) attention weights in [0, 1]; exposed for visualisation."""
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_weights(x)[:, :, None, None]


class InterModalityAttention(nn.Module):
    """Cross-modal gates w_rgb<-aux and w_aux<-rgb from the concatenated streams. ``shared``
    (one 2C->2C conv split in two) is the same function family as ``separate`` (a test
    proves it); ``tied`` (one 2C->C conv on both orderings) is truly symmetric."""

    def __init__(self, channels: int, mode: str = "separate"):
        super().__init__()
        if mode not in INTER_MODES:
            raise ValueError(
                f"MODEL.GAFF.INTER_MODE {mode!r} is not one of {INTER_MODES} (the "
                "inter-attention mode)"
            )
        self.mode = mode
        c2 = 2 * channels
        if mode == "separate":
            self.conv_rgb = nn.Conv2d(c2, channels, 1, bias=False)
            self.conv_aux = nn.Conv2d(c2, channels, 1, bias=False)
        elif mode == "shared":
            self.conv = nn.Conv2d(c2, c2, 1, bias=False)
        else:
            self.conv = nn.Conv2d(c2, channels, 1, bias=False)

    def forward(
        self, x_rgb: torch.Tensor, x_aux: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        both = torch.cat([x_rgb, x_aux], dim=1)
        if self.mode == "separate":
            logits_rgb, logits_aux = self.conv_rgb(both), self.conv_aux(both)
        elif self.mode == "shared":
            logits_rgb, logits_aux = self.conv(both).chunk(2, dim=1)
        else:
            logits_rgb, logits_aux = self.conv(both), self.conv(torch.cat([x_aux, x_rgb], dim=1))
        return torch.sigmoid(logits_rgb), torch.sigmoid(logits_aux)


class LearnableScale(nn.Module):
    """One learnable scalar, initialised to 1 (so training starts from the guide's block)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


def _conv_norm(in_channels: int, out_channels: int, norm: str) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 1, bias=False), get_norm(norm, out_channels)]


@FUSION_REGISTRY.register_as("gaff")
class GAFFBlock(nn.Module):
    """Fuse two (B, C, H, W) maps into one (B, out, H, W) map: ``merge([x_se + alpha * w *
    x_other] per modality)``. ``use_se=False`` (GAFF-Lite) and ``learnable_alpha=False`` make
    those parts identities, so the defaults keep the guide's parameters and state-dict keys.
    """

    def __init__(
        self,
        channels: int,
        se_reduction: int = 4,
        inter_mode: str = "separate",
        merge_bottleneck: bool = False,
        out_channels: int | None = None,
        norm: str = "BN",
        use_se: bool = True,
        learnable_alpha: bool = False,
    ):
        super().__init__()
        out_channels = out_channels or channels
        self.se_rgb = SEBlock(channels, se_reduction) if use_se else nn.Identity()
        self.se_aux = SEBlock(channels, se_reduction) if use_se else nn.Identity()
        self.inter_attn = InterModalityAttention(channels, inter_mode)
        self.alpha_rgb = LearnableScale() if learnable_alpha else nn.Identity()
        self.alpha_aux = LearnableScale() if learnable_alpha else nn.Identity()
        if merge_bottleneck:
            layers = [*_conv_norm(2 * channels, channels, norm), nn.ReLU(inplace=True)]
            layers += _conv_norm(channels, out_channels, norm)
        else:
            layers = _conv_norm(2 * channels, out_channels, norm)
        self.merge = nn.Sequential(*layers)

    @classmethod
    def from_spec(cls, spec: FusionSpec, channels: int) -> GAFFBlock:
        return cls(channels, out_channels=spec.fused_channels(channels), **spec.gaff_options())

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        w_rgb_from_aux, w_aux_from_rgb = self.inter_attn(x_rgb, x_aux)
        rgb_guided = self.se_rgb(x_rgb) + self.alpha_rgb(w_rgb_from_aux * x_aux)
        aux_guided = self.se_aux(x_aux) + self.alpha_aux(w_aux_from_rgb * x_rgb)
        return self.merge(torch.cat([rgb_guided, aux_guided], dim=1))
