"""Seeded train / val / test splits by a hash of (seed, frame key), so that adding or removing
other files moves no frame; ``by="sequence"`` hashes the sequence id instead, so that
near-identical consecutive frames cannot leak from train into val/test."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectron2.data import DatasetCatalog, MetadataCatalog

from ..atomic import atomic_write_json
from .events import sequence_position

SPLITS = ("train", "val", "test")
SPLIT_BY = ("frame", "sequence")


def normalise_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """(train, val, test) from 3 values, or 2 values meaning (train, test) as in the guide."""
    values = tuple(float(f) for f in fractions)
    if len(values) == 2:
        values = (values[0], 0.0, values[1])
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(
            f"split fractions {list(fractions)} must be 3 non-negative numbers (train, val, "
            "test), or 2 (train, test), summing to 1, e.g. [0.7, 0.1, 0.2] or [0.8, 0.2]"
        )
    return values


def split_group(frame_key: str, by: str = "frame") -> str:
    """The string hashed to place a frame: its key, or its sequence id."""
    if by not in SPLIT_BY:
        raise ValueError(f"split-by must be one of {SPLIT_BY}, got {by!r}")
    position = sequence_position(frame_key) if by == "sequence" else None
    return position[0] if position else frame_key


def split_of(group: str, fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0) -> str:
    """The split ("train", "val" or "test") a frame or sequence id falls into."""
    digest = hashlib.sha256(f"{seed}/{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    bound = 0.0
    for name, fraction in zip(SPLITS, normalise_fractions(fractions), strict=True):
        bound += fraction
        if u < bound:
            return name
    return "test"  # u within rounding of 1


def select_split(
    records: list[dict[str, Any]],
    split: str,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    by: str = "frame",
) -> list[dict[str, Any]]:
    """The records of one split (``split="all"`` keeps every record)."""
    if split == "all":
        return records
    if split not in SPLITS:
        raise ValueError(f"split must be one of {(*SPLITS, 'all')}, got {split!r}")
    return [
        r for r in records if split_of(split_group(r["frame_key"], by), fractions, seed) == split
    ]


def split_manifest(dataset_names: Sequence[str]) -> dict[str, Any]:
    """Which frames each registered dataset holds, and its split settings (reads them)."""
    manifest = {}
    for name in dataset_names:
        meta = MetadataCatalog.get(name)
        manifest[name] = {
            "split": meta.get("split", None),
            "fractions": meta.get("split_fractions", None),
            "seed": meta.get("split_seed", None),
            "by": meta.get("split_by", None),
            "frames": [record["frame_key"] for record in DatasetCatalog.get(name)],
        }
    return manifest


def save_split_manifest(dataset_names: Sequence[str], path: str | Path) -> dict[str, Any]:
    """Write :func:`split_manifest` to json (a run's record of its frames)."""
    manifest = split_manifest(dataset_names)
    atomic_write_json(path, manifest)
    return manifest
