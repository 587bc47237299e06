"""Registering datasets in Detectron2's DatasetCatalog / MetadataCatalog as four names,
``<name>_train``, ``_val``, ``_test`` and ``_all``; files are read on the first
``DatasetCatalog.get``, once for all four."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from .demo import DEMO_CLASSES, demo_dir, ensure_demo
from .errors import DatasetError
from .kaist import load_kaist
from .npy_yolo import load_npy_yolo
from .paired import load_coco_multimodal, load_paired
from .splits import SPLITS, normalise_fractions, select_split, split_group

LAYOUTS = ("npy_yolo", "paired", "coco", "kaist")
DEMO_NAME = "gaff_demo"
DEMO_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)

Records = list[dict[str, Any]]


def register_gaff_dataset(
    name: str,
    loader: Callable[[], Records],
    classes: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    split_by: str = "frame",
    source: str = "",
    load_test: Callable[[], Records] | None = None,
) -> list[str]:
    """Register ``name``'s splits, a seeded hash split (:mod:`.splits`) of ``loader``'s frames;
    returns the registered names. Re-registering replaces. ``load_test`` gives a benchmark's
    fixed test frames (comparable with published results); ``loader``'s are then split into
    train / val only, by the train:val ratio of ``fractions``."""
    fractions = normalise_fractions(fractions)
    split_group("", split_by)  # validates split_by now rather than at first use
    load_all = functools.cache(loader)
    if load_test is not None:
        train, val, _ = fractions
        if train + val <= 0:
            raise ValueError(
                "DATASETS.GAFF.SPLIT_FRACTIONS gives train and val no share; the benchmark's "
                "test frames are fixed, so use e.g. [0.9, 0.1, 0.0]"
            )
        fractions = (train / (train + val), val / (train + val), 0.0)
        load_test = functools.cache(load_test)
    shares = dict(zip(SPLITS, fractions, strict=True))

    def load(split: str) -> Records:
        if load_test is not None and split in ("test", "all"):
            records = load_test() if split == "test" else [*load_all(), *load_test()]
        else:
            records = select_split(load_all(), split, fractions, seed, split_by)
        if not records:
            share = f"fraction {shares.get(split)}, seed {seed}, {len(load_all())} frames"
            raise DatasetError(
                f"{name}_{split}: the {split} split is empty ({source if load_test else share}). "
                "Fix: give it a share in DATASETS.GAFF.SPLIT_FRACTIONS, add frames, or do not "
                "use this split."
            )
        records = copy.deepcopy(records)  # callers may modify the dicts; the cache must not
        if load_test is not None and split == "all":
            for index, record in enumerate(records):
                record["image_id"] = index
        return records

    names = []
    for split in (*SPLITS, "all"):
        full = f"{name}_{split}"
        if full in DatasetCatalog.list():
            DatasetCatalog.remove(full)
            MetadataCatalog.remove(full)
        DatasetCatalog.register(full, functools.partial(load, split))
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


def _folders(d: CfgNode) -> tuple[str, str, str]:
    """The RGB, thermal and event folder names of ``cfg.DATASETS.GAFF``."""
    return d.RGB_DIR, d.THERMAL_DIR, d.EVENT_DIR


def _load_kaist(cfg: CfgNode, test: bool) -> Records:
    """KAIST's TEST_SET or TRAIN_SET image-set list, with its annotations."""
    d, k = cfg.DATASETS.GAFF, cfg.DATASETS.GAFF.KAIST
    return load_kaist(
        d.ROOT,
        k.TEST_SET if test else k.TRAIN_SET,
        list(d.CLASSES),
        (k.TEST_ANNOTATIONS or d.ANNOTATIONS) if test else d.ANNOTATIONS,
        *_folders(d),
        tuple(k.DAY_SETS),
        d.SEQUENTIAL,
        d.SKIP_BAD_SAMPLES,
    )


def load_from_config(cfg: CfgNode) -> Records:
    """Every record of the dataset ``cfg.DATASETS.GAFF`` describes (all splits), for the
    hash-split layouts; KAIST's two image-set lists are loaded apart (:func:`_load_kaist`)."""
    d = cfg.DATASETS.GAFF
    classes, skip = list(d.CLASSES), d.SKIP_BAD_SAMPLES
    if d.LAYOUT == "npy_yolo":
        return load_npy_yolo(d.IMAGES, d.LABELS, classes, skip)
    if d.LAYOUT == "paired":
        return load_paired(d.ROOT, classes, *_folders(d), d.ANNOTATIONS, d.SEQUENTIAL, skip)
    if d.LAYOUT == "coco":
        json_file = Path(d.ROOT) / d.ANNOTATIONS if d.ROOT else Path(d.ANNOTATIONS)
        return load_coco_multimodal(json_file, classes, d.ROOT or None, d.SEQUENTIAL, skip)
    raise ValueError(f"DATASETS.GAFF.LAYOUT {d.LAYOUT!r} is not a hash-split layout")


def register_datasets_from_config(cfg: CfgNode) -> list[str]:
    """Register the user dataset named by ``cfg.DATASETS.GAFF`` (nothing when NAME is empty)."""
    d = cfg.DATASETS.GAFF
    if not d.NAME:
        return []
    if d.LAYOUT not in LAYOUTS:
        raise ValueError(f"DATASETS.GAFF.LAYOUT must be one of {LAYOUTS}, got {d.LAYOUT!r}")
    frozen = cfg.clone()
    load_all, load_test = functools.partial(load_from_config, frozen), None
    location = {"npy_yolo": d.IMAGES, "paired": d.ROOT, "coco": d.ANNOTATIONS, "kaist": d.ROOT}
    source = f"{d.LAYOUT}: {location[d.LAYOUT]}"
    if d.LAYOUT == "kaist":  # test frames from the benchmark's image-set lists
        load_all = functools.partial(_load_kaist, frozen, test=False)
        load_test = functools.partial(_load_kaist, frozen, test=True)
        source += f" ({d.KAIST.TRAIN_SET} / {d.KAIST.TEST_SET})"
    elif d.TEST_FOLDER:  # a benchmark's own test folder (LLVIP's visible/test/)
        every, prefix = functools.cache(load_all), d.TEST_FOLDER.strip("/") + "/"

        def part(test: bool) -> Records:
            return [r for r in every() if r["frame_key"].startswith(prefix) == test]

        load_all, load_test = functools.partial(part, False), functools.partial(part, True)
        source = f"{d.LAYOUT}: {d.ROOT} (test: {prefix})"
    return register_gaff_dataset(
        d.NAME,
        load_all,
        d.CLASSES,
        d.SPLIT_FRACTIONS,
        d.SPLIT_SEED,
        d.SPLIT_BY,
        source,
        load_test,
    )


def register_demo_datasets(base: str | Path | None = None) -> list[str]:
    """Register ``gaff_demo_{train,val,test,all}``; the set is generated on first use."""

    def load() -> Records:
        root = ensure_demo(base)
        return load_npy_yolo(root / "images", root / "labels", DEMO_CLASSES)

    return register_gaff_dataset(
        DEMO_NAME, load, DEMO_CLASSES, DEMO_SPLIT_FRACTIONS, source=f"demo: {demo_dir(base)}"
    )
