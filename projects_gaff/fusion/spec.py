"""How each stage fuses: :class:`FusionSpec`, read and checked from the config by
:func:`fusion_specs_from_cfg`, built by :func:`build_fusion`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

import torch
from detectron2.layers import get_norm
from torch import nn

from ..mit import MIT_SPECS
from .registry import FUSION_REGISTRY, NO_FUSION

logger = logging.getLogger(__name__)

MIT_STAGES = (1, 2, 3, 4)
DEFAULT_STAGES = (2, 3)  # MODEL.FUSION.STAGES' default in projects_gaff/config.py
GAFF_TYPES = ("gaff", "gated")  # the methods built around a GAFF block (MODEL.GAFF.* apply)


@dataclass(frozen=True)
class FusionSpec:
    """How one stage fuses. The defaults are the study guide's GAFF block."""

    type: str = "gaff"
    se_reduction: int = 4
    use_se: bool = True
    inter_mode: str = "separate"
    merge_bottleneck: bool = False
    learnable_alpha: bool = False
    out_channels: int = 0  # "gaff" only; 0: the stage width C
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
        """Keyword arguments of :class:`GAFFBlock` (all but its output width)."""
        keys = "se_reduction inter_mode merge_bottleneck norm use_se learnable_alpha"
        return {k: getattr(self, k) for k in keys.split()}


GUIDE_GAFF = FusionSpec()


class ProjectedFusion(nn.Module):
    """A fusion block whose map for the FPN is ``out_channels`` wide
    (``MODEL.GAFF.OUT_CHANNELS``), plus the 1x1 conv + norm back to C for the next MiT stage."""

    def __init__(self, block: nn.Module, channels: int, out_channels: int, norm: str = "BN"):
        super().__init__()
        self.block = block
        self.out_channels = out_channels
        self.project = nn.Sequential(
            nn.Conv2d(out_channels, channels, 1, bias=False), get_norm(norm, channels)
        )

    def forward(self, x_rgb: torch.Tensor, x_aux: torch.Tensor) -> torch.Tensor:
        return self.block(x_rgb, x_aux)


def build_fusion(spec: FusionSpec, channels: int) -> nn.Module:
    """The fusion module of one stage of width C, from the registry. A fused map narrower or
    wider than C comes wrapped in :class:`ProjectedFusion` (its projection feeds the streams)."""
    block = FUSION_REGISTRY.get(spec.type).from_spec(spec, channels)
    out = spec.fused_channels(channels)
    return block if out == channels else ProjectedFusion(block, channels, out, spec.norm)


def check_stages(stages: Iterable[int], key: str) -> None:
    """MiT has stages 1-4; anything else in ``key`` is a config error."""
    bad = [s for s in stages if s not in MIT_STAGES]
    if bad:
        raise ValueError(
            f"{key} {list(stages)}: stage(s) {bad} do not exist; MiT stages are 1, 2, 3, 4"
        )


def fusion_stages(cfg) -> tuple[int, ...]:
    """The fused MiT stages: ``MODEL.FUSION.STAGES``, or the old ``MODEL.GAFF.STAGES`` when
    a config or command line still sets it (MODEL.FUSION.STAGES at its default [2, 3]
    counts as not set). Both set, to different stages, is an error."""
    stages, key = list(cfg.MODEL.FUSION.STAGES), "MODEL.FUSION.STAGES"
    old = cfg.MODEL.GAFF.STAGES
    if old is not None:
        if stages not in (list(old), list(DEFAULT_STAGES)):
            raise ValueError(
                f"MODEL.GAFF.STAGES {list(old)} and MODEL.FUSION.STAGES {stages} disagree; "
                "MODEL.GAFF.STAGES is the old name of MODEL.FUSION.STAGES: set only "
                "MODEL.FUSION.STAGES"
            )
        logger.warning(
            "MODEL.GAFF.STAGES is deprecated; fusing its stages %s. Use MODEL.FUSION.STAGES",
            list(old),
        )
        stages, key = list(old), "MODEL.GAFF.STAGES"
    check_stages(stages, key)
    return tuple(sorted(set(stages)))


def _per_stage(key: str, values: list, allowed: tuple | None = None) -> None:
    if values and len(values) != len(MIT_STAGES):
        raise ValueError(
            f"{key} {values} must be empty or have one entry per MiT stage 1-4 (entries of "
            "stages not in MODEL.FUSION.STAGES are ignored)"
        )
    bad = [v for v in values if allowed is not None and v not in allowed]
    if bad:
        raise ValueError(f"{key} {values} has {bad}; each entry must be one of {allowed}")


def fusion_specs_from_cfg(cfg) -> dict[int, FusionSpec]:
    """Stage -> spec for every stage that fuses (none with MODEL.FUSION.TYPE "none")."""
    gaff, fusion = cfg.MODEL.GAFF, cfg.MODEL.FUSION
    stages = fusion_stages(cfg)
    types = FUSION_REGISTRY.types()
    if fusion.TYPE not in types:
        raise ValueError(f"MODEL.FUSION.TYPE {fusion.TYPE!r} is not one of {types}")
    stage_types, reductions = list(fusion.STAGE_TYPES), list(gaff.STAGE_SE_REDUCTIONS)
    _per_stage("MODEL.FUSION.STAGE_TYPES", stage_types, types)
    _per_stage("MODEL.GAFF.STAGE_SE_REDUCTIONS", reductions)
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
    specs = {}
    for s in stages if stage_types or fusion.TYPE != NO_FUSION else ():
        spec = replace(
            base,
            type=stage_types[s - 1] if stage_types else base.type,
            se_reduction=reductions[s - 1] if reductions else base.se_reduction,
        )
        if spec.type == "xattn" and mit:  # the attention geometry of the MiT stage it fuses
            spec = replace(spec, attn_heads=mit.heads[s - 1], attn_sr_ratio=mit.sr_ratios[s - 1])
        if spec.type == NO_FUSION:
            raise ValueError(
                f"MODEL.FUSION.STAGE_TYPES says 'none' for stage {s}, which MODEL.FUSION.STAGES "
                f"{list(stages)} fuses; drop the stage from MODEL.FUSION.STAGES instead"
            )
        if spec.type == "gated" and spec.out_channels:
            raise ValueError(
                f"MODEL.GAFF.OUT_CHANNELS={spec.out_channels} with gated fusion (stage {s}): "
                "the gate blends the GAFF output with the RGB features, so both keep the "
                "stage width; leave OUT_CHANNELS at 0"
            )
        specs[s] = spec
    _check_guidance(cfg, specs)
    return specs


def _check_guidance(cfg, specs: dict[int, FusionSpec]) -> None:
    """Fail at build time on a guidance weight that would silently do nothing."""
    weight, meta_architecture = cfg.MODEL.GAFF.GUIDANCE_WEIGHT, cfg.MODEL.META_ARCHITECTURE
    if weight < 0:
        raise ValueError(f"MODEL.GAFF.GUIDANCE_WEIGHT={weight} must be >= 0 (0: off)")
    if not weight:
        return
    if meta_architecture != "GuidedRCNN":
        raise ValueError(
            f"MODEL.GAFF.GUIDANCE_WEIGHT={weight} needs MODEL.META_ARCHITECTURE 'GuidedRCNN' "
            f"(got {meta_architecture!r}), the detector that hands the boxes to the loss"
        )
    if not any(spec.type in GAFF_TYPES for spec in specs.values()):
        raise ValueError(
            f"MODEL.GAFF.GUIDANCE_WEIGHT={weight} supervises GAFF's inter-modality gates, but "
            f"no stage fuses with {GAFF_TYPES} (stages: "
            f"{ {s: spec.type for s, spec in specs.items()} })"
        )
