"""Fusion of the two streams (README, "Fusion methods"). Importing this package registers
every method in ``FUSION_REGISTRY``, and ``GuidedRCNN`` as a meta-architecture."""

from . import add, concat, cross_attention, cssa, gaff, gated  # noqa: F401  (registration)
from .capture import AttentionMaps, capture_attention, fusion_blocks
from .guidance import GuidedRCNN, box_masks, guidance_loss
from .registry import FUSION_REGISTRY
from .spec import (
    GUIDE_GAFF,
    FusionSpec,
    ProjectedFusion,
    build_fusion,
    fusion_specs_from_cfg,
    fusion_stages,
)

__all__ = [
    "FUSION_REGISTRY",
    "GUIDE_GAFF",
    "AttentionMaps",
    "FusionSpec",
    "GuidedRCNN",
    "ProjectedFusion",
    "box_masks",
    "build_fusion",
    "capture_attention",
    "fusion_blocks",
    "fusion_specs_from_cfg",
    "fusion_stages",
    "guidance_loss",
]
