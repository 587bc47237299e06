"""A warning, at the start of training, when MODEL.PIXEL_MEAN/STD do not fit the data.

Another dataset's statistics can put a channel at ~20 (the demo set's event mean 1.0 / std
11.4 on LLVIP's mean 76 / std 91), and training then diverges with no visible cause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from detectron2.config import CfgNode
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..data import CHANNELS, channel_indices
from ..data.sample_rng import forked_global_rngs
from .evaluation import build_test_loader

logger = logging.getLogger(__name__)

# A normalised channel should have a mean near 0 and a std near 1; these are far outside.
MEAN_LIMIT = 3.0
STD_RANGE = (0.2, 5.0)


class NormalisationCheck(HookBase):
    """Measures the input channels on the first ``batches`` batches of ``loader`` (0-255
    CHW images) on forked RNGs, so that the check does not change the training run."""

    def __init__(
        self,
        loader: Iterable[list[dict]] | Callable[[], Iterable[list[dict]]],
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        channel_names: Sequence[str],
        batches: int = 4,
    ):
        if not len(pixel_mean) == len(pixel_std) == len(channel_names):
            raise ValueError(
                f"{len(pixel_mean)} means, {len(pixel_std)} stds and {len(channel_names)} "
                "channel names: one of each per input channel"
            )
        self._loader = loader
        self.pixel_mean = np.asarray(pixel_mean, np.float64)
        self.pixel_std = np.asarray(pixel_std, np.float64)
        self.channel_names = list(channel_names)
        self.batches = batches

    @classmethod
    def from_config(cls, cfg: CfgNode, batches: int = 4) -> NormalisationCheck:
        """DATASETS.TRAIN[0] through the test loader: in order, without augmentation."""
        names = [CHANNELS[i] for i in channel_indices(cfg.MODEL.MIT.AUX_CHANNELS)]
        return cls(
            lambda: build_test_loader(cfg, cfg.DATASETS.TRAIN[0]),
            cfg.MODEL.PIXEL_MEAN,
            cfg.MODEL.PIXEL_STD,
            names,
            batches,
        )

    def before_train(self) -> None:
        if comm.is_main_process():
            for warning in self.check():
                logger.warning(warning)

    def measure(self) -> tuple[np.ndarray, np.ndarray, int]:
        total = np.zeros(len(self.channel_names))
        total_sq = np.zeros(len(self.channel_names))
        pixels = frames = 0
        with forked_global_rngs():
            loader = self._loader() if callable(self._loader) else self._loader
            for number, batch in enumerate(loader):
                if number == self.batches:
                    break
                for item in batch:
                    image = item["image"].double().flatten(1).numpy()
                    total += image.sum(1)
                    total_sq += (image**2).sum(1)
                    pixels += image.shape[1]
                    frames += 1
        if not frames:
            raise ValueError("the loader gave no frames to measure the channels on")
        mean = total / pixels
        return mean, np.sqrt(np.maximum(total_sq / pixels - mean**2, 0.0)), frames

    def check(self) -> list[str]:
        mean, std, frames = self.measure()
        normalised_mean = (mean - self.pixel_mean) / self.pixel_std
        normalised_std = std / self.pixel_std
        warnings = []
        for i, name in enumerate(self.channel_names):
            mean_fits = abs(normalised_mean[i]) <= MEAN_LIMIT
            if mean_fits and STD_RANGE[0] <= normalised_std[i] <= STD_RANGE[1]:
                continue
            warnings.append(
                f"Input channel '{name}' (MODEL.PIXEL_MEAN/STD entry {i}) does not fit the data: "
                f"measured mean {mean[i]:.1f}, std {std[i]:.1f} on {frames} training frames, "
                f"configured mean {self.pixel_mean[i]:g}, std {self.pixel_std[i]:g}, so the "
                f"normalised channel has mean {normalised_mean[i]:.2f} and std "
                f"{normalised_std[i]:.2f} (expected within ±{MEAN_LIMIT:g} and "
                f"{STD_RANGE[0]:g}-{STD_RANGE[1]:g}); training may diverge. Fix: set them to "
                "the values tools/dataset_summary.py prints for this dataset."
            )
        return warnings
