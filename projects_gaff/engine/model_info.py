"""Parameter counts per component and GFLOPs of a built detector (``model_info.json``)."""

from __future__ import annotations

import logging

import torch
from detectron2.utils.analysis import FlopCountAnalysis
from torch import nn

from ..fusion import fusion_stages
from .compile import eager

logger = logging.getLogger(__name__)


def _count(module: nn.Module | None) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Learnable parameters of each stream, each GAFF block, the FPN, RPN and ROI heads."""
    model = getattr(model, "module", model)
    fpn = model.backbone
    bottom_up = fpn.bottom_up
    parts = {
        "total": _count(model),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "rgb_stream": _count(bottom_up.rgb),
        "aux_stream": _count(bottom_up.aux),
        "gaff_total": _count(bottom_up.fusion),
    }
    parts.update({f"gaff_stage{stage}": _count(block) for stage, block in bottom_up.fusion.items()})
    parts["fpn"] = _count(fpn) - _count(bottom_up)
    parts["rpn"] = _count(model.proposal_generator)
    parts["roi_heads"] = _count(model.roi_heads)
    return parts


def count_gflops(model: nn.Module, channels: int, height: int, width: int) -> float | None:
    """Inference GFLOPs (fvcore, one multiply-add = 1 flop) for one frame of this size."""
    model = getattr(model, "module", model)
    device = next(model.parameters()).device
    image = torch.zeros(channels, height, width, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), eager(model):
            analysis = FlopCountAnalysis(model, [{"image": image}])
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return analysis.total() / 1e9
    except Exception as error:  # fvcore tracing can fail on exotic ops; never lose a run over it
        logger.warning("GFLOPs could not be counted: %s", error)
        return None
    finally:
        model.train(was_training)


def architecture(cfg) -> dict:
    """The fields that name the architecture, shared by model_info.json and config.json."""
    return {
        "backbone": cfg.MODEL.MIT.NAME,
        "gaff_stages": list(fusion_stages(cfg)),
        "fusion_type": cfg.MODEL.FUSION.TYPE,
        "fusion_stage_types": list(cfg.MODEL.FUSION.STAGE_TYPES),
        "fusion_late": cfg.MODEL.FUSION.LATE,
    }


def model_info(model: nn.Module, cfg) -> dict:
    h, w = cfg.TEST.FLOPS_INPUT_SIZE
    return {
        "parameters": parameter_breakdown(model),
        "gflops": count_gflops(model, len(cfg.MODEL.PIXEL_MEAN), h, w),
        "gflops_input_size": [h, w],
        **architecture(cfg),
    }
