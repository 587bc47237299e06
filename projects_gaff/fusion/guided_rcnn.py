"""``GuidedRCNN``: Detectron2's GeneralizedRCNN plus the optional guidance loss.

The backbone never sees the ground truth; this detector captures the fusion blocks'
gates during its own forward pass and scores them against the boxes it already holds, so
the backbone, the FPN and the heads stay stock Detectron2.
"""

from __future__ import annotations

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN

from .capture import capture_attention
from .guidance import guidance_loss


@META_ARCH_REGISTRY.register()
class GuidedRCNN(GeneralizedRCNN):
    """In training, adds ``loss_guidance`` = MODEL.GAFF.GUIDANCE_WEIGHT x
    :func:`guidance_loss`. With weight 0 it is exactly GeneralizedRCNN."""

    @configurable
    def __init__(self, *, guidance_weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.guidance_weight = guidance_weight

    @classmethod
    def from_config(cls, cfg) -> dict:
        return {**super().from_config(cfg), "guidance_weight": cfg.MODEL.GAFF.GUIDANCE_WEIGHT}

    def forward(self, batched_inputs: list[dict]):
        if not self.training or not self.guidance_weight:
            return super().forward(batched_inputs)
        with capture_attention(self.backbone, detach=False) as maps:
            losses = super().forward(batched_inputs)
        instances = [x["instances"].to(self.device) for x in batched_inputs]
        losses["loss_guidance"] = self.guidance_weight * guidance_loss(maps, instances)
        return losses
