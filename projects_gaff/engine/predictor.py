"""Detectron2's ``DefaultPredictor`` for (H, W, 5) uint8 frames, and how to feed the stock
class instead (README, "Inference")."""

from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import transforms as T
from detectron2.engine import DefaultPredictor

from ..data import CHANNELS, build_gaff_augmentation, channel_indices
from .compile import compile_backbone


class GAFFPredictor(DefaultPredictor):
    """``GAFFPredictor(cfg)(frame)["instances"]``, boxes in the frame's coordinates. The stock
    ``__call__`` would reverse the channel axis for INPUT.FORMAT "RGB" (scrambling the
    modalities) and resize uint8 through PIL, which fails above 4 channels."""

    def __init__(self, cfg: CfgNode):
        super().__init__(cfg)
        compile_backbone(self.model, cfg)
        self.aug = T.AugmentationList(build_gaff_augmentation(cfg, is_train=False))
        self.channels = channel_indices(cfg.MODEL.MIT.AUX_CHANNELS)

    def __call__(self, frame: np.ndarray) -> dict:
        frame = check_frame(frame, self.channels)
        height, width = frame.shape[:2]
        aug_input = T.AugInput(frame.astype(np.float32))
        self.aug(aug_input)
        image = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        with torch.no_grad():
            return self.model(
                [{"image": image.to(self.cfg.MODEL.DEVICE), "height": height, "width": width}]
            )[0]


def check_frame(frame: np.ndarray, channels: list[int]) -> np.ndarray:
    """``frame`` reduced to the model's ``channels``; it must hold all five, or just those."""
    if frame.ndim == 3 and frame.shape[2] == len(channels):
        return frame
    if frame.ndim == 3 and frame.shape[2] == len(CHANNELS):
        return frame[:, :, channels]
    model = "/".join(CHANNELS[i] for i in channels)
    reduced = (
        f", or (H, W, {len(channels)}) with only the model's channels {model}"
        if len(channels) != len(CHANNELS)
        else ""
    )
    raise ValueError(
        f"frame of shape {frame.shape}: expected (H, W, {len(CHANNELS)}) in the order "
        f"{'/'.join(CHANNELS)}{reduced}"
    )


def default_predictor_input(frame: np.ndarray, cfg: CfgNode) -> np.ndarray:
    """``frame`` for the stock ``DefaultPredictor``: the model's channels, float32 (so its
    resize avoids PIL) and reversed for INPUT.FORMAT "RGB" (the stock class reverses back)."""
    frame = check_frame(frame, channel_indices(cfg.MODEL.MIT.AUX_CHANNELS)).astype(np.float32)
    return np.ascontiguousarray(frame[:, :, ::-1] if cfg.INPUT.FORMAT == "RGB" else frame)
