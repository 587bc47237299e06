"""The dataset mapper: one sample's modalities -> the model's (3 + aux)-channel tensor.

Frames reach the transforms as float32, so Detectron2's ResizeTransform takes its torch
interpolation path (its uint8 path goes through PIL, which fails above 4 channels).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from .errors import DatasetError
from .events import DEFAULT_EVENTS, EventSynthesis
from .frames import CHANNELS, channel_indices, read_frame

logger = logging.getLogger(__name__)


class ResizeShortestEdgeNoUpscale(T.ResizeShortestEdge):
    """ResizeShortestEdge that never enlarges a frame: upscaling ~320x400 frames to 800-1333
    px only multiplied the compute (~8 images/s on an A100)."""

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
    flip = cfg.INPUT.RANDOM_FLIP
    if is_train and flip != "none":
        augmentation.append(
            T.RandomFlip(horizontal=flip == "horizontal", vertical=flip == "vertical")
        )
    return augmentation


class GAFFDatasetMapper:
    """Like Detectron2's DatasetMapper: ``image`` is float32 CHW, R G B then ``aux_channels``
    on the 0-255 scale (as MODEL.PIXEL_MEAN/STD expect). Training can zero one modality with
    probability ``modality_dropout`` (a failed sensor)."""

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: list[T.Augmentation | T.Transform],
        aux_channels: tuple[str, ...] | list[str] = ("thermal", "event"),
        modality_dropout: float = 0.0,
        events: EventSynthesis = DEFAULT_EVENTS,
        skip_bad_samples: bool = False,
    ):
        if not 0.0 <= modality_dropout <= 1.0:
            raise ValueError(f"modality dropout must be a probability, got {modality_dropout}")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.channels = channel_indices(aux_channels)
        # Channel positions (in the model input) of each modality, for modality dropout.
        self.modalities = [[0, 1, 2]] + [[3 + i] for i in range(len(aux_channels))]
        self.modality_dropout = modality_dropout
        self.events = events
        self.skip_bad_samples = skip_bad_samples
        self.skipped = 0
        logger.info(
            "GAFFDatasetMapper (%s): channels %s, augmentations %s, modality dropout %g",
            "train" if is_train else "inference",
            [CHANNELS[i] for i in self.channels],
            augmentations,
            modality_dropout,
        )

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict[str, Any]:
        return {
            "is_train": is_train,
            "augmentations": build_gaff_augmentation(cfg, is_train),
            "aux_channels": tuple(cfg.MODEL.MIT.AUX_CHANNELS),
            "modality_dropout": cfg.INPUT.GAFF.MODALITY_DROPOUT,
            "events": EventSynthesis.from_config(cfg),
            "skip_bad_samples": cfg.DATASETS.GAFF.SKIP_BAD_SAMPLES,
        }

    def __call__(self, dataset_dict: dict[str, Any]) -> dict[str, Any] | None:
        dataset_dict = copy.deepcopy(dataset_dict)
        try:
            frame = read_frame(dataset_dict, self.events)
        except DatasetError as err:
            # Returning None makes Detectron2's MapDataset draw another sample; only safe
            # in training (an evaluation must see every frame).
            if self.is_train and self.skip_bad_samples:
                self.skipped += 1
                logger.warning("Skipped bad sample %d of this run: %s", self.skipped, err)
                return None
            raise
        image = frame[:, :, self.channels].astype(np.float32)
        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        if self.is_train and self.modality_dropout and np.random.rand() < self.modality_dropout:
            image[:, :, self.modalities[np.random.randint(len(self.modalities))]] = 0
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))

        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        shape = image.shape[:2]
        annotations = [
            utils.transform_instance_annotations(obj, transforms, shape)
            for obj in dataset_dict.pop("annotations", [])
            if obj.get("iscrowd", 0) == 0
        ]
        instances = utils.annotations_to_instances(annotations, shape)
        dataset_dict["instances"] = utils.filter_empty_instances(instances)
        return dataset_dict
