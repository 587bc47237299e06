"""Detectron2's ``DefaultPredictor`` for (H, W, 5) uint8 frames, and how to feed the stock
class instead."""

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

    Use it as ``GAFFPredictor(cfg)(frame)["instances"]`` with ``cfg`` from
    :func:`projects_gaff.engine.setup_cfg` (MODEL.WEIGHTS set to a checkpoint). The stock
    ``DefaultPredictor`` works too on a frame prepared by :func:`default_predictor_input`;
    it always resizes to INPUT.MIN_SIZE_TEST, so it matches this class exactly when the
    frames are at least that size or INPUT.GAFF.UPSCALE is True.
    """

    def __init__(self, cfg: CfgNode):
        super().__init__(cfg)
        compile_backbone(self.model, cfg)
        self.aug = T.AugmentationList(build_gaff_augmentation(cfg, is_train=False))
        self.channels = channel_indices(cfg.MODEL.MIT.AUX_CHANNELS)

    def __call__(self, frame: np.ndarray) -> dict:
        check_frame(frame, self.channels)
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


def check_frame(frame: np.ndarray, channels: list[int]) -> None:
    """A frame must hold all five channels, or exactly the model's (3 + aux)."""
    if frame.ndim == 3 and frame.shape[2] in (len(CHANNELS), len(channels)):
        return
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
    """``frame`` (H, W, 5 or the model's channels) prepared for Detectron2's stock
    ``DefaultPredictor``, which needs no patch for it: the model's channels only, float32
    (its resize then takes the torch path; through PIL uint8 fails above 4 channels), and
    reversed when INPUT.FORMAT is "RGB" (the stock class reverses the channel axis, which
    it takes for an OpenCV BGR image, so the two reversals cancel)."""
    channels = channel_indices(cfg.MODEL.MIT.AUX_CHANNELS)
    check_frame(frame, channels)
    if frame.shape[2] != len(channels):
        frame = frame[:, :, channels]
    frame = frame.astype(np.float32)
    return np.ascontiguousarray(frame[:, :, ::-1] if cfg.INPUT.FORMAT == "RGB" else frame)
