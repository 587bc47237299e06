"""projects_gaff: two-stream MiT + GAFF fusion for RGB, thermal and event detection.

Importing ``add_gaff_config`` registers the model (as in Detectron2's projects); lazily, so
that light tools (the study runner, the analysis) start without torch.
"""

__all__ = ["TwoStreamMiT", "add_gaff_config"]


def __getattr__(name: str):
    if name in __all__:
        from . import backbone  # registers BACKBONE_REGISTRY, FUSION_REGISTRY, GuidedRCNN
        from .config import add_gaff_config

        return {"TwoStreamMiT": backbone.TwoStreamMiT, "add_gaff_config": add_gaff_config}[name]
    raise AttributeError(f"module 'projects_gaff' has no attribute {name!r}")
