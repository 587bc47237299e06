"""Fusion methods for the two-stream backbone: GAFF and its variants, addition,
concatenation, CSSA; attention capture; the optional guidance loss (``GuidedRCNN``)."""

from .add import AddFusion, add_param_count
from .build import (
    GAFF_TYPES,
    GUIDE_GAFF,
    FusionSpec,
    build_fusion,
    fusion_param_count,
    fusion_specs_from_cfg,
)
from .capture import AttentionMaps, capture_attention, fusion_blocks
from .concat import ConcatFusion, concat_param_count
from .cssa import (
    CSSA_THRESHOLDS,
    ECA,
    CSSABlock,
    SpatialAttention,
    cssa_param_count,
    eca_kernel_size,
)
from .gated import FusionGate, GatedGAFF, gated_param_count
from .guidance import box_masks, check_guidance, guidance_loss
from .guided_rcnn import GuidedRCNN  # registers the meta-architecture
from .projection import ProjectedFusion, projection_param_count

__all__ = [
    "CSSA_THRESHOLDS",
    "ECA",
    "GAFF_TYPES",
    "GUIDE_GAFF",
    "AddFusion",
    "AttentionMaps",
    "CSSABlock",
    "ConcatFusion",
    "FusionGate",
    "FusionSpec",
    "GatedGAFF",
    "GuidedRCNN",
    "ProjectedFusion",
    "SpatialAttention",
    "add_param_count",
    "box_masks",
    "build_fusion",
    "capture_attention",
    "check_guidance",
    "concat_param_count",
    "cssa_param_count",
    "eca_kernel_size",
    "fusion_blocks",
    "fusion_param_count",
    "fusion_specs_from_cfg",
    "gated_param_count",
    "guidance_loss",
    "projection_param_count",
]
