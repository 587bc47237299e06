"""The test-time loader of the 5-channel mapper, here so that the trainer, the evaluation of
finished runs and the normalisation check share it without importing one another."""

from __future__ import annotations

from collections.abc import Iterable

from detectron2.config import CfgNode
from detectron2.data import build_detection_test_loader

from ..data import GAFFDatasetMapper


def build_test_loader(cfg: CfgNode, dataset_name: str) -> Iterable[list[dict]]:
    """``dataset_name``'s frames at test-time geometry, in order, one per batch."""
    return build_detection_test_loader(
        cfg, dataset_name, mapper=GAFFDatasetMapper(cfg, is_train=False)
    )
