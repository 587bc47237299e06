"""Read a summary CSV in the earlier implementation's schema (or a hand-made one like it).

The earlier ``run_gaff_ablations.py`` wrote ``summary_all_experiments.csv`` with the columns
``experiment_id, phase, stages, se_reduction, inter_shared, merge_bottleneck, status,
time_hours, mAP, mAP_50, mAP_75, final_train_loss, total_params_M``: COCO AP on the 0–1
scale, one seed, no validation split, no per-epoch curves. Column names are matched
case-insensitively through :data:`ALIASES`; APs are converted to the 0–100 scale when no
value exceeds 1. Each row is one run (seed 0). The earlier runner skipped phase 2's default
rows: they are its phase-1 rows, found through the configuration.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from pathlib import Path

from ..run_files import COCO_KEYS, RUN_NAME
from ..study.plan import STAGE_SETS, GaffConfig
from .model import Configuration, RunResult, StudyData, planned_configs

# canonical name → accepted column names, lower case, first match wins
ALIASES: Mapping[str, tuple[str, ...]] = {
    "id": ("experiment_id", "exp_id", "name", "experiment", "config", "code"),
    "phase": ("phase",),
    "stages": ("stages", "gaff_stages"),
    "se_reduction": ("se_reduction", "se_r", "reduction"),
    "inter_shared": ("inter_shared",),
    "merge_bottleneck": ("merge_bottleneck", "merge_bn"),
    "status": ("status",),
    "AP": ("map", "ap", "map@[.5:.95]"),
    "AP50": ("map_50", "map@50", "map50", "ap50"),
    "AP75": ("map_75", "map@75", "map75", "ap75"),
    "APs": ("map_small", "aps", "ap_small"),
    "APm": ("map_medium", "apm", "ap_medium"),
    "APl": ("map_large", "apl", "ap_large"),
    "hours": ("time_hours", "train_hours", "training_hours"),
    "params_m": ("total_params_m", "params_m"),
}
_DONE = {"success", "finished", "complete", "completed", "done", ""}


def is_summary_csv(path: Path) -> bool:
    """True for a CSV whose header has an experiment id and an AP column by the earlier
    implementation's names (this project's own summary is read from its run folders)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = {h.strip().lower() for h in next(csv.reader(f), [])}
    except (OSError, UnicodeDecodeError):
        return False
    return bool(header & set(ALIASES["id"])) and "map" in header


def load_summary_csv(path: Path) -> StudyData:
    with open(path, encoding="utf-8", newline="") as f:
        rows = [_canonical(row) for row in csv.DictReader(f)]
    values = [v for row in rows for k in COCO_KEYS if (v := number(row.get(k))) is not None]
    scale = 100.0 if values and max(values) <= 1.0 else 1.0
    grid: dict[GaffConfig, Configuration] = {}
    missing, phase2, seen = [], [], set()
    for row in rows:
        config = _config(row)
        name = row.get("id") or (config.code if config else "?")
        if config is None:
            missing.append(f"{name}: not a configuration of the study's grid, skipped")
            continue
        seen.add(config)
        status = row.get("status", "").lower()
        if status not in _DONE or number(row.get("AP")) is None:
            missing.append(f"{name}: {row.get('status') or 'no mAP'}")
            continue
        if (row.get("phase") == "2" or config != GaffConfig(config.stages)) and (
            config.stage_label not in phase2
        ):
            phase2.append(config.stage_label)
        grid[config] = Configuration(config.code, config.code, (_run(row, scale),), gaff=config)
    missing += [f"{c.code}: no row" for c in planned_configs(phase2) if c not in seen]
    notes = ["one seed per configuration and no validation split: ranked on the test split"]
    if scale != 1.0:
        notes.append("APs converted from the CSV's 0–1 scale to Detectron2's 0–100 scale")
    return StudyData(
        source=f"summary CSV {path} (earlier implementation's columns)",
        grid=grid,
        phase2_stage_sets=tuple(phase2),
        missing=tuple(missing),
        seeds=1,
        splits=("test",),
        notes=tuple(notes),
    )


def _canonical(row: Mapping[str, str]) -> dict[str, str]:
    lower = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
    return {
        name: next(lower[a] for a in aliases if a in lower)
        for name, aliases in ALIASES.items()
        if any(a in lower for a in aliases)
    }


def _config(row: Mapping[str, str]) -> GaffConfig | None:
    """From the id (``exp_001_s1_r4_is0_mb0`` or ``s1_r4_is0_mb0``), else the columns."""
    text = row.get("id", "")
    run = RUN_NAME.match(text)
    config = GaffConfig.from_code(run["code"] if run else text)
    if config is not None:
        return config
    stages = tuple(int(s) for s in re.findall(r"[1-4]", row.get("stages", "")))
    if stages not in STAGE_SETS:
        return None
    try:
        r = int(float(row.get("se_reduction") or 4))
    except ValueError:
        return None
    return GaffConfig(stages, r, _bool(row.get("inter_shared")), _bool(row.get("merge_bottleneck")))


def _run(row: Mapping[str, str], scale: float) -> RunResult:
    test = {k: (v * scale if (v := number(row.get(k))) is not None else None) for k in COCO_KEYS}
    params_m = number(row.get("params_m"))
    return RunResult(
        seed=0,
        metrics={"test": test},
        training_hours=number(row.get("hours")),
        parameters={"total": round(params_m * 1e6)} if params_m is not None else {},
    )


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1", "yes", "t")


def number(text: str | None) -> float | None:
    """A CSV cell as a number; None for an empty, non-numeric or NaN cell."""
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return None if value is None or math.isnan(value) else value
