"""Registering a benchmark whose test frames are fixed (KAIST's image-set lists, LLVIP's
test folder): only its training frames are split, so its test set stays comparable with
published results.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from .errors import DatasetError
from .splits import normalise_fractions, select_split


def register_benchmark_splits(
    cfg: CfgNode,
    load_train: Callable[[], list[dict[str, Any]]],
    load_test: Callable[[], list[dict[str, Any]]],
    source: str,
) -> list[str]:
    """Register ``NAME_train`` / ``_val`` (a seeded split of the benchmark's training frames
    by SPLIT_FRACTIONS' train:val ratio), ``NAME_test`` (its fixed test frames) and
    ``NAME_all``. Files are read on first use, once."""
    d = cfg.DATASETS.GAFF
    train, val, _ = normalise_fractions(d.SPLIT_FRACTIONS)
    if train + val <= 0:
        raise ValueError(
            "DATASETS.GAFF.SPLIT_FRACTIONS gives train and val no share; the benchmark's "
            "test frames are fixed, so use e.g. [0.9, 0.1, 0.0]"
        )
    fractions = (train / (train + val), val / (train + val), 0.0)
    load_train, load_test = functools.cache(load_train), functools.cache(load_test)

    def load(split: str) -> list[dict[str, Any]]:
        if split == "test":
            records = load_test()
        elif split == "all":
            records = [*load_train(), *load_test()]
        else:
            records = select_split(load_train(), split, fractions, d.SPLIT_SEED, d.SPLIT_BY)
        if not records:
            raise DatasetError(
                f"{d.NAME}_{split}: the {split} split is empty ({source}). Fix: give it a "
                "share in DATASETS.GAFF.SPLIT_FRACTIONS, add its frames, or do not use it."
            )
        records = copy.deepcopy(records)  # callers may modify the dicts; the cache must not
        if split == "all":
            for index, record in enumerate(records):
                record["image_id"] = index
        return records

    names = []
    for split in ("train", "val", "test", "all"):
        full = f"{d.NAME}_{split}"
        if full in DatasetCatalog.list():
            DatasetCatalog.remove(full)
            MetadataCatalog.remove(full)
        DatasetCatalog.register(full, functools.partial(load, split))
        MetadataCatalog.get(full).set(
            thing_classes=list(d.CLASSES),
            evaluator_type="coco",
            split=split,
            split_fractions=list(fractions),
            split_seed=d.SPLIT_SEED,
            split_by=d.SPLIT_BY,
            source=source,
        )
        names.append(full)
    return names
