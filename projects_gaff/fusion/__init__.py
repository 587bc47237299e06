"""Fusion of the two streams: the methods in ``FUSION_REGISTRY`` (GAFF and its gated
variant, addition, concatenation, CSSA, cross-attention), the per-stage specs read from the
config, attention capture and the optional guidance loss (``GuidedRCNN``).

Importing this package registers every method, and ``GuidedRCNN`` as a meta-architecture.
"""

from . import add, concat, cross_attention, cssa, gaff, gated  # noqa: F401  (registration)
from .capture import AttentionMaps, capture_attention, fusion_blocks
from .guidance import box_masks, guidance_loss
from .guided_rcnn import GuidedRCNN
from .projection import ProjectedFusion
from .registry import FUSION_REGISTRY
from .spec import GUIDE_GAFF, FusionSpec, build_fusion, fusion_specs_from_cfg, fusion_stages

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
