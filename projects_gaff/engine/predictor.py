"""Detectron2's ``DefaultPredictor`` for (H, W, 5) uint8 frames."""

from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import transforms as T
from detectron2.engine import DefaultPredictor

from ..data import CHANNELS, build_gaff_augmentation, channel_indices
from .compile import compile_backbone


class GAFFPredictor(DefaultPredictor):
    """The stock predictor, changed only where 5-channel frames need it.

    The stock ``__call__`` reverses the channel axis for ``INPUT.FORMAT == "RGB"`` (meant
    for BGR OpenCV images; here it would scramble the modalities) and resizes uint8 through
    PIL, which fails above 4 channels. This one takes a frame in the dataset's channel
    order (R, G, B, thermal, event; or already R, G, B + MODEL.MIT.AUX_CHANNELS), resizes
    it as the test mapper does and returns ``{"instances": Instances}`` in the frame's
    original coordinates. MODEL.COMPILE.ENABLED compiles the encoder as in training.
    """

    def __init__(self, cfg: CfgNode):
        super().__init__(cfg)
        compile_backbone(self.model, cfg)
        self.aug = T.AugmentationList(build_gaff_augmentation(cfg, is_train=False))
        self.channels = channel_indices(cfg.MODEL.MIT.AUX_CHANNELS)

    def __call__(self, frame: np.ndarray) -> dict:
        if frame.ndim != 3 or frame.shape[2] not in (len(CHANNELS), len(self.channels)):
            raise ValueError(
                f"frame of shape {frame.shape}: expected (H, W, {len(CHANNELS)}) in the order "
                f"{list(CHANNELS)} or (H, W, {len(self.channels)}) already reduced to the "
                "model's channels"
            )
        if frame.shape[2] != len(self.channels):
            frame = frame[:, :, self.channels]
        height, width = frame.shape[:2]
        aug_input = T.AugInput(frame.astype(np.float32))
        self.aug(aug_input)
        image = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        with torch.no_grad():
            return self.model(
                [{"image": image.to(self.cfg.MODEL.DEVICE), "height": height, "width": width}]
            )[0]
