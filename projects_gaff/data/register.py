"""Registering datasets in Detectron2's DatasetCatalog / MetadataCatalog.

A dataset is registered as four names, ``<name>_train``, ``_val``, ``_test`` (the seeded
hash split of :mod:`.splits`) and ``_all``. Registration only records how to load: files
are read on the first ``DatasetCatalog.get``, once for all four names.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from .benchmark_splits import register_benchmark_splits
from .coco_multimodal import load_coco_multimodal
from .demo import DEMO_CLASSES, demo_dir, ensure_demo
from .errors import DatasetError
from .kaist import load_kaist_from_config
from .npy_yolo import load_npy_yolo
from .paired import load_paired
from .splits import SPLITS, normalise_fractions, select_split, split_group

LAYOUTS = ("npy_yolo", "paired", "coco", "kaist")
DEMO_NAME = "gaff_demo"
DEMO_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


def register_gaff_dataset(
    name: str,
    loader: Callable[[], list[dict[str, Any]]],
    classes: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    split_by: str = "frame",
    source: str = "",
) -> list[str]:
    """Register ``name``'s splits; returns the registered names. Re-registering replaces."""
    fractions = normalise_fractions(fractions)
    split_group("", split_by)  # validates split_by now rather than at first use
    load_all = functools.cache(loader)
    names = []
    for split in (*SPLITS, "all"):
        full = f"{name}_{split}"
        if full in DatasetCatalog.list():
            DatasetCatalog.remove(full)
            MetadataCatalog.remove(full)
        DatasetCatalog.register(
            full, functools.partial(_load_split, full, load_all, split, fractions, seed, split_by)
        )
        MetadataCatalog.get(full).set(
            thing_classes=list(classes),
            evaluator_type="coco",
            split=split,
            split_fractions=list(fractions),
            split_seed=seed,
            split_by=split_by,
            source=source,
        )
        names.append(full)
    return names


def _load_split(
    full: str,
    load_all: Callable[[], list[dict[str, Any]]],
    split: str,
    fractions: tuple[float, float, float],
    seed: int,
    split_by: str,
) -> list[dict[str, Any]]:
    records = select_split(load_all(), split, fractions, seed, split_by)
    if not records:
        share = dict(zip(SPLITS, fractions, strict=True)).get(split)
        raise DatasetError(
            f"{full}: the {split} split is empty (fraction {share}, seed {seed}, "
            f"{len(load_all())} frames). Fix: give it a share in DATASETS.GAFF.SPLIT_FRACTIONS, "
            "add frames, or do not use this split."
        )
    return copy.deepcopy(records)  # callers may modify the dicts; the cache must not change


def load_from_config(cfg: CfgNode) -> list[dict[str, Any]]:
    """Every record of the dataset ``cfg.DATASETS.GAFF`` describes (all splits)."""
    d = cfg.DATASETS.GAFF
    classes, skip = list(d.CLASSES), d.SKIP_BAD_SAMPLES
    if d.LAYOUT == "npy_yolo":
        return load_npy_yolo(d.IMAGES, d.LABELS, classes, skip)
    if d.LAYOUT == "paired":
        return load_paired(
            d.ROOT,
            classes,
            d.RGB_DIR,
            d.THERMAL_DIR,
            d.EVENT_DIR,
            d.ANNOTATIONS,
            d.SEQUENTIAL,
            skip,
        )
    if d.LAYOUT == "coco":
        json_file = Path(d.ROOT) / d.ANNOTATIONS if d.ROOT else Path(d.ANNOTATIONS)
        return load_coco_multimodal(json_file, classes, d.ROOT or None, d.SEQUENTIAL, skip)
    if d.LAYOUT == "kaist":  # both image-set lists; the registered splits keep them apart
        return [
            *load_kaist_from_config(cfg, d.KAIST.TRAIN_SET, d.ANNOTATIONS),
            *load_kaist_from_config(
                cfg, d.KAIST.TEST_SET, d.KAIST.TEST_ANNOTATIONS or d.ANNOTATIONS
            ),
        ]
    raise ValueError(f"DATASETS.GAFF.LAYOUT must be one of {LAYOUTS}, got {d.LAYOUT!r}")


def register_datasets_from_config(cfg: CfgNode) -> list[str]:
    """Register the user dataset named by ``cfg.DATASETS.GAFF`` (nothing when NAME is empty)."""
    d = cfg.DATASETS.GAFF
    if not d.NAME:
        return []
    if d.LAYOUT not in LAYOUTS:
        raise ValueError(f"DATASETS.GAFF.LAYOUT must be one of {LAYOUTS}, got {d.LAYOUT!r}")
    if d.LAYOUT == "kaist":  # splits from the benchmark's image-set lists, not the hash
        return register_kaist_from_config(cfg)
    if d.TEST_FOLDER:  # a benchmark's own test folder (LLVIP)
        return register_test_folder_from_config(cfg)
    frozen = cfg.clone()
    location = {"npy_yolo": d.IMAGES, "paired": d.ROOT, "coco": d.ANNOTATIONS}[d.LAYOUT]
    return register_gaff_dataset(
        d.NAME,
        lambda: load_from_config(frozen),
        d.CLASSES,
        d.SPLIT_FRACTIONS,
        d.SPLIT_SEED,
        d.SPLIT_BY,
        source=f"{d.LAYOUT}: {location}",
    )


def register_demo_datasets(base: str | Path | None = None) -> list[str]:
    """Register ``gaff_demo_{train,val,test,all}``; the set is generated on first use."""

    def load() -> list[dict[str, Any]]:
        root = ensure_demo(base)
        return load_npy_yolo(root / "images", root / "labels", DEMO_CLASSES)

    return register_gaff_dataset(
        DEMO_NAME, load, DEMO_CLASSES, DEMO_SPLIT_FRACTIONS, source=f"demo: {demo_dir(base)}"
    )


def register_kaist_from_config(cfg: CfgNode) -> list[str]:
    """Register KAIST's standard splits: ``NAME_test`` is the TEST_SET list (in list order,
    so image_id + 1 is the result-file index), train / val split the TRAIN_SET list."""
    d, k = cfg.DATASETS.GAFF, cfg.DATASETS.GAFF.KAIST
    frozen = cfg.clone()
    return register_benchmark_splits(
        cfg,
        lambda: load_kaist_from_config(frozen, k.TRAIN_SET, d.ANNOTATIONS),
        lambda: load_kaist_from_config(frozen, k.TEST_SET, k.TEST_ANNOTATIONS or d.ANNOTATIONS),
        f"kaist: {d.ROOT} ({k.TRAIN_SET} / {k.TEST_SET})",
    )


def register_test_folder_from_config(cfg: CfgNode) -> list[str]:
    """Register a paired-layout benchmark whose test frames sit in their own folder
    (LLVIP's ``visible/test/``): keys under ``DATASETS.GAFF.TEST_FOLDER`` are ``NAME_test``,
    the rest are split into train / val."""
    d = cfg.DATASETS.GAFF
    frozen = cfg.clone()
    load_all = functools.cache(lambda: load_from_config(frozen))
    prefix = d.TEST_FOLDER.strip("/") + "/"
    return register_benchmark_splits(
        cfg,
        lambda: [r for r in load_all() if not r["frame_key"].startswith(prefix)],
        lambda: [r for r in load_all() if r["frame_key"].startswith(prefix)],
        f"{d.LAYOUT}: {d.ROOT} (test: {prefix})",
    )
