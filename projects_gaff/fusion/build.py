"""Fusion methods by name: one :class:`FusionSpec` per fused stage, its module and its
parameter count, and the reading of MODEL.GAFF / MODEL.FUSION into specs.

Where fusion happens is MODEL.GAFF.STAGES (unchanged, so every existing config keeps its
meaning); how is MODEL.FUSION.TYPE, or MODEL.FUSION.STAGE_TYPES per MiT stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from torch import nn

from ..config import FUSION_TYPES, INTER_MODES
from ..gaff import GAFFBlock, gaff_param_count
from ..mit import MIT_SPECS
from .add import AddFusion, add_param_count
from .concat import ConcatFusion, concat_param_count
from .cross_attention import CrossAttentionFusion, cross_attention_param_count
from .cssa import CSSABlock, cssa_param_count
from .gated import GatedGAFF, gated_param_count
from .projection import ProjectedFusion, projection_param_count

GAFF_TYPES = ("gaff", "gated")  # the types built around a GAFF block (MODEL.GAFF.* apply)


@dataclass(frozen=True)
class FusionSpec:
    """How one stage fuses. The defaults are the study guide's GAFF block."""

    type: str = "gaff"
    se_reduction: int = 4
    use_se: bool = True
    inter_mode: str = "separate"
    merge_bottleneck: bool = False
    learnable_alpha: bool = False
    out_channels: int = 0  # GAFF only; 0: the stage width C
    norm: str = "BN"
    cssa_threshold: float = 0.5
    cssa_kernel_size: int = 0  # 0: ECA's adaptive size for C
    # "xattn" only: heads and key/value spatial reduction. fusion_specs_from_cfg sets the
    # fused MiT stage's own; who builds TwoStreamMiT directly passes them.
    attn_heads: int = 1
    attn_sr_ratio: int = 1

    def fused_channels(self, channels: int) -> int:
        """Width of the fused map the FPN receives at a stage of width ``channels``."""
        return self.out_channels if self.type == "gaff" and self.out_channels else channels

    def gaff_options(self) -> dict:
        return {
            "se_reduction": self.se_reduction,
            "merge_bottleneck": self.merge_bottleneck,
            "inter_mode": self.inter_mode,
            "use_se": self.use_se,
            "learnable_alpha": self.learnable_alpha,
        }


GUIDE_GAFF = FusionSpec()


def _gaff_block(spec: FusionSpec, channels: int, out_channels: int | None = None) -> GAFFBlock:
    return GAFFBlock(channels, out_channels=out_channels, norm=spec.norm, **spec.gaff_options())


# name -> (module builder, parameter count), both of (spec, stage width C)
_METHODS: dict[str, tuple[Callable[[FusionSpec, int], nn.Module], Callable[..., int]]] = {
    "gaff": (
        lambda s, c: _gaff_block(s, c, s.fused_channels(c)),
        lambda s, c: gaff_param_count(c, out_channels=s.fused_channels(c), **s.gaff_options()),
    ),
    "gated": (
        lambda s, c: GatedGAFF(_gaff_block(s, c), c),
        lambda s, c: gated_param_count(c, **s.gaff_options()),
    ),
    "add": (lambda s, c: AddFusion(), lambda s, c: add_param_count(c)),
    "concat": (lambda s, c: ConcatFusion(c, s.norm), lambda s, c: concat_param_count(c)),
    "cssa": (
        lambda s, c: CSSABlock(c, s.cssa_threshold, s.cssa_kernel_size),
        lambda s, c: cssa_param_count(c, s.cssa_kernel_size),
    ),
    "xattn": (
        lambda s, c: CrossAttentionFusion(c, s.attn_heads, s.attn_sr_ratio, s.norm),
        lambda s, c: cross_attention_param_count(c, s.attn_sr_ratio),
    ),
}


def build_fusion(spec: FusionSpec, channels: int) -> nn.Module:
    """The fusion module of one stage: ``forward(x_rgb, x_aux) -> fused``. A fused map
    narrower or wider than C comes wrapped in :class:`ProjectedFusion`."""
    block = _METHODS[spec.type][0](spec, channels)
    out = spec.fused_channels(channels)
    return ProjectedFusion(block, channels, out, spec.norm) if out != channels else block


def fusion_param_count(spec: FusionSpec, channels: int) -> int:
    """Learnable parameters of :func:`build_fusion` (spec, channels), by formula."""
    count = _METHODS[spec.type][1](spec, channels)
    out = spec.fused_channels(channels)
    return count + (projection_param_count(channels, out) if out != channels else 0)


def check_stages(stages: Iterable[int]) -> None:
    """MiT has stages 1-4; anything else in MODEL.GAFF.STAGES is a config error."""
    bad = [s for s in stages if s not in (1, 2, 3, 4)]
    if bad:
        raise ValueError(f"MODEL.GAFF.STAGES {list(stages)} has {bad}; MiT stages are 1, 2, 3, 4")


def _per_stage(key: str, values: list, allowed: tuple | None = None) -> None:
    if values and len(values) != 4:
        raise ValueError(
            f"{key} {values} must be empty or have one entry per MiT stage 1-4 (entries of "
            "stages not in MODEL.GAFF.STAGES are ignored)"
        )
    bad = [v for v in values if allowed is not None and v not in allowed]
    if bad:
        raise ValueError(f"{key} {values} has {bad}; each entry must be one of {allowed}")


def fusion_specs_from_cfg(cfg) -> dict[int, FusionSpec]:
    """Stage -> spec for every stage that fuses (none with MODEL.FUSION.TYPE "none")."""
    gaff, fusion = cfg.MODEL.GAFF, cfg.MODEL.FUSION
    stages = sorted(set(gaff.STAGES))
    check_stages(stages)
    if fusion.TYPE not in FUSION_TYPES:
        raise ValueError(f"MODEL.FUSION.TYPE {fusion.TYPE!r} is not one of {FUSION_TYPES}")
    stage_types, reductions = list(fusion.STAGE_TYPES), list(gaff.STAGE_SE_REDUCTIONS)
    _per_stage("MODEL.FUSION.STAGE_TYPES", stage_types, FUSION_TYPES)
    _per_stage("MODEL.GAFF.STAGE_SE_REDUCTIONS", reductions)
    if gaff.INTER_MODE not in INTER_MODES:
        raise ValueError(f"MODEL.GAFF.INTER_MODE {gaff.INTER_MODE!r} is not one of {INTER_MODES}")
    if gaff.OUT_CHANNELS < 0:
        raise ValueError(
            f"MODEL.GAFF.OUT_CHANNELS={gaff.OUT_CHANNELS}: give 0 (the stage width) or the "
            "width of the fused map the FPN should get"
        )
    mit = MIT_SPECS.get(cfg.MODEL.MIT.NAME)  # None: the backbone reports the bad name
    base = FusionSpec(
        type=fusion.TYPE,
        se_reduction=gaff.SE_REDUCTION,
        use_se=gaff.USE_SE,
        inter_mode=gaff.INTER_MODE,
        merge_bottleneck=gaff.MERGE_BOTTLENECK,
        learnable_alpha=gaff.LEARNABLE_ALPHA,
        out_channels=gaff.OUT_CHANNELS,
        norm=gaff.NORM,
        cssa_threshold=fusion.CSSA.THRESHOLD,
        cssa_kernel_size=fusion.CSSA.KERNEL_SIZE,
    )
    if not stage_types and fusion.TYPE == "none":
        return {}
    specs = {}
    for s in stages:
        spec = replace(
            base,
            type=stage_types[s - 1] if stage_types else base.type,
            se_reduction=reductions[s - 1] if reductions else base.se_reduction,
        )
        if spec.type == "xattn" and mit:  # the attention geometry of the MiT stage it fuses
            spec = replace(spec, attn_heads=mit.heads[s - 1], attn_sr_ratio=mit.sr_ratios[s - 1])
        if spec.type == "none":
            raise ValueError(
                f"MODEL.FUSION.STAGE_TYPES says 'none' for stage {s}, which MODEL.GAFF.STAGES "
                f"{stages} fuses; drop the stage from MODEL.GAFF.STAGES instead"
            )
        if spec.type == "gated" and spec.out_channels:
            raise ValueError(
                f"MODEL.GAFF.OUT_CHANNELS={spec.out_channels} with gated fusion (stage {s}): "
                "the gate blends the GAFF output with the RGB features, so both keep the "
                "stage width; leave OUT_CHANNELS at 0"
            )
        specs[s] = spec
    return specs
