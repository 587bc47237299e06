"""Geometric augmentation shared by all modalities of a frame.

Frames reach these transforms as float32, so Detectron2's ResizeTransform takes its torch
interpolation path (its uint8 path goes through PIL, which fails above 4 channels).
"""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.data import transforms as T


class ResizeShortestEdgeNoUpscale(T.ResizeShortestEdge):
    """ResizeShortestEdge that never enlarges a frame.

    Upscaling ~320x400 frames to 800-1333 px only multiplied the earlier implementation's
    compute (~8 images/s on an A100); larger frames are still shrunk as usual.
    """

    def get_transform(self, image):
        transform = super().get_transform(image)
        if isinstance(transform, T.ResizeTransform) and (
            transform.new_h * transform.new_w >= transform.h * transform.w
        ):
            return T.NoOpTransform()
        return transform


def build_gaff_augmentation(cfg: CfgNode, is_train: bool) -> list[T.Augmentation]:
    """Detectron2's default resize + flip from ``cfg.INPUT``, without upscaling by default."""
    if is_train:
        sizes = cfg.INPUT.MIN_SIZE_TRAIN
        max_size = cfg.INPUT.MAX_SIZE_TRAIN
        style = cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
    else:
        sizes, max_size, style = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice"
    resize = T.ResizeShortestEdge if cfg.INPUT.GAFF.UPSCALE else ResizeShortestEdgeNoUpscale
    augmentation: list[T.Augmentation] = [resize(sizes, max_size, style)]
    if is_train and cfg.INPUT.RANDOM_FLIP != "none":
        augmentation.append(
            T.RandomFlip(
                horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                vertical=cfg.INPUT.RANDOM_FLIP == "vertical",
            )
        )
    return augmentation
