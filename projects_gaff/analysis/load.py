"""Read results into :class:`StudyData`: a study folder of ``tools/ablate.py`` (the run
folders are the truth) or the earlier implementation's ``summary_all_experiments.csv``
(README.md, "Analysis": its columns; APs on the 0–1 scale, one seed, no validation split).

In a study folder the plan (phase 1, phase 2 on ``phase2_selection.json``'s stage sets,
times the seeds found) says what should exist, and each planned run that is not finished
becomes a ``missing`` line. Any other run folder below the study or given with ``--extra``
(baseline, CSSA, ...) is an extra configuration grouped over its ``_seedN`` siblings."""

from __future__ import annotations

import csv
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import yaml

from ..atomic import read_csv
from ..run_files import (
    COCO_KEYS,
    CONFIG_JSON,
    CONFIG_YAML,
    FAILED_RECORD,
    FINAL_RESULTS,
    METRICS_PER_EPOCH,
    MODEL_INFO,
    PHASE2_SELECTION,
    PHASE_FOLDERS,
    RUN_NAME,
    SEED_SUFFIX,
    STUDY_MANIFEST,
    SUBMITIT_FOLDER,
    SUMMARY,
    lower_is_better,
)
from ..study.plan import STAGE_SETS, GaffConfig, phase1_plan, phase2_plan, select_metric
from ..study.status import Status, metric, read_final_results, read_json, run_status
from .model import DEFAULT_AUX, METHOD_NAMES, Configuration, RunResult, StudyData, planned_configs


def load_results(path: Path, extra: Sequence[Path] = ()) -> StudyData:
    """Raises ``FileNotFoundError`` or ``ValueError`` with a message for the user."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    csv_file = path if path.is_file() else path / SUMMARY
    if csv_file.is_file() and is_summary_csv(csv_file):
        if extra:
            raise ValueError("--extra needs a study folder of tools/ablate.py, not a summary CSV")
        return load_summary_csv(csv_file)
    if path.is_file():
        raise ValueError(
            f"{path} is not a summary CSV with the earlier implementation's columns "
            "(experiment_id, mAP, ...); give the study folder instead"
        )
    if not any((path / name).exists() for name in (*PHASE_FOLDERS.values(), STUDY_MANIFEST)):
        raise ValueError(
            f"{path} is not a study folder of tools/ablate.py (it has no "
            f"{', '.join(PHASE_FOLDERS.values())} or {STUDY_MANIFEST})"
        )
    return load_study(path, extra)


# ---- a study folder ----


_RUN_MARKERS = {FINAL_RESULTS, FAILED_RECORD, CONFIG_JSON}
# Settings that must agree for two runs to be compared (config.json keys).
COMPARED_SETTINGS = ("backbone", "epochs", "batch_size", "learning_rate", "train_datasets")


def load_study(base: Path, extra: Sequence[Path] = ()) -> StudyData:
    """The study below ``base`` plus the extra run folders (or folders of run folders)."""
    base = Path(base)
    selection, select_on = _selection(base)
    found = dict(_scan_grid(base))
    phase2_labels = tuple(selection or _found_phase2_labels(found))
    seeds = 1 + max((seed for _, _, seed in found.values()), default=0)
    planned = {
        base / run.folder: (e.config, e.name, run.seed)
        for e in phase1_plan() + phase2_plan(phase2_labels)
        if not e.reused
        for run in e.runs(seeds)
    }
    runs, missing = defaultdict(list), []
    for folder, (config, name, seed) in sorted({**planned, **found}.items()):
        if run := _finished(folder, seed, f"{name} seed {seed}" if seed else name, missing):
            runs[config].append(run)
    grid = {
        config: Configuration(config.code, config.code, tuple(rs), gaff=config)
        for config, rs in runs.items()
    }
    if not phase2_labels:
        missing.append(f"phase 2: not started (no {PHASE2_SELECTION}, no phase-2 run folder)")
    extras, extra_missing = _read_extras(base, extra)
    extras = _compare_settings(grid.values(), extras)
    manifest, notes = read_json(base / STUDY_MANIFEST), []
    config_file, opts = manifest.get("config_file"), manifest.get("opts", [])
    if manifest:
        options = " ".join(opts) or "none"
        notes.append(f"study settings ({STUDY_MANIFEST}): config {config_file}, options {options}")
    notes += [
        f"{c.label} was trained with other settings than the study ({c.differs}): listed, "
        "but not used as a reference"
        for c in extras
        if c.differs
    ]
    if select_on == "test":
        notes.append("phase 2's stage sets were chosen on the TEST split (--select-on test)")
    return StudyData(
        source=f"study folder {base}",
        grid=grid,
        phase2_stage_sets=phase2_labels,
        extras=tuple(extras),
        missing=tuple(missing + extra_missing),
        seeds=seeds,
        splits=_splits([r for c in [*grid.values(), *extras] for r in c.runs]),
        notes=tuple(notes),
        select_metric=select_metric(config_file, opts),  # TEST.SELECT_METRIC of the study
    )


def read_run(folder: Path, seed: int, final: dict) -> RunResult:
    """A finished run folder (``final``: its final results): model info, per-epoch metrics,
    settings."""
    info = read_json(folder / MODEL_INFO)
    metrics = {
        split: {
            key: metric(final, split, key)
            for key in (*COCO_KEYS, *sorted(k for k in final[split] if lower_is_better(k)))
        }
        for split in ("val", "test")
        if isinstance(final.get(split), dict)
    }
    return RunResult(
        seed=seed,
        metrics=metrics,
        best_epoch=final.get("best_epoch"),
        training_hours=final.get("training_hours"),
        inference_fps=final.get("inference_fps"),
        peak_memory_mb=final.get("peak_memory_mb"),
        parameters=info.get("parameters", {}),
        gflops=info.get("gflops"),
        epochs=tuple(
            {key: number(value) for key, value in row.items()}
            for row in read_csv(folder / METRICS_PER_EPOCH)
        ),
        settings=read_json(folder / CONFIG_JSON),
    )


def _scan_grid(base: Path) -> Iterator[tuple[Path, tuple[GaffConfig, str, int]]]:
    for folder_name in PHASE_FOLDERS.values():
        root = base / folder_name
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            match = RUN_NAME.match(folder.name)
            config = GaffConfig.from_code(match["code"]) if match else None
            if folder.is_dir() and config is not None:
                name = f"{match['exp']}_{match['code']}"
                yield folder, (config, name, int(match["seed"] or 0))


def _found_phase2_labels(found: dict) -> list[str]:
    """Phase 2's stage sets as its folders show them (no ``phase2_selection.json``)."""
    phase2 = PHASE_FOLDERS[2]
    labels = [c.stage_label for f, (c, _, _) in sorted(found.items()) if f.parent.name == phase2]
    return list(dict.fromkeys(labels))


def _selection(base: Path) -> tuple[list[str], str | None]:
    data = read_json(base / PHASE2_SELECTION)
    known = {GaffConfig(s).stage_label for s in STAGE_SETS}
    return [s for s in data.get("selection", []) if s in known], data.get("select_on")


def _finished(folder: Path, seed: int, name: str, missing: list[str]) -> RunResult | None:
    """The run if it finished; else None, and a line in ``missing`` says what it is."""
    final = read_final_results(folder)
    if final is not None:
        return read_run(folder, seed, final)
    status = run_status(folder)
    if status is Status.FAILED:
        reason = read_json(folder / FAILED_RECORD).get("reason", f"see {FAILED_RECORD}")
        missing.append(f"{name}: FAILED ({reason})")
    else:
        missing.append(f"{name}: {status.value}")
    return None


def _read_extras(base: Path, extra: Sequence[Path]) -> tuple[list[Configuration], list[str]]:
    skip = {(base / f).resolve() for f in (*PHASE_FOLDERS.values(), SUBMITIT_FOLDER)}
    groups: dict[tuple[Path, str], set[Path]] = defaultdict(set)
    for root in (base, *map(Path, extra)):  # an --extra below the study is found twice
        for folder in _run_folders(root.resolve(), skip):
            groups[(folder.parent, SEED_SUFFIX.sub("", folder.name))].add(folder)
    configs, missing = [], []
    for (parent, name), found in sorted(groups.items()):
        runs, folders = [], sorted(found)
        for folder in folders:
            seed = int(suffix["seed"]) if (suffix := SEED_SUFFIX.search(folder.name)) else 0
            if run := _finished(folder, seed, f"extra run {folder}", missing):
                runs.append(run)
        if runs:
            method = fusion_method(read_yaml_config(folders[0]), runs[0].settings)
            key = str(parent / name)
            configs.append(Configuration(key, name, tuple(runs), method=method))
    return configs, missing


def _run_folders(root: Path, skip: set[Path]) -> Iterator[Path]:
    """Folders holding a run's files; their own subfolders (checkpoints, ...) are not run
    folders and are not searched."""
    for folder, dirs, files in os.walk(root):
        path = Path(folder)
        if path in skip:
            dirs[:] = []
        elif _RUN_MARKERS & set(files):
            dirs[:] = []
            yield path
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))


def _compare_settings(grid, extras: Sequence[Configuration]) -> list[Configuration]:
    """Mark each extra run trained with other settings than the study's runs (backbone,
    epochs, batch, LR, training set): it is listed, but never used as a reference."""
    reference = next((c.first.settings for c in grid if c.first.settings), None)
    if reference is None:
        return list(extras)
    marked = []
    for config in extras:
        theirs = config.first.settings
        diff = [
            f"{k} {theirs.get(k)} vs {reference.get(k)}"
            for k in COMPARED_SETTINGS
            if k in theirs and theirs.get(k) != reference.get(k)
        ]
        marked.append(replace(config, differs="; ".join(diff)))
    return marked


def _splits(runs: Sequence[RunResult]) -> tuple[str, ...]:
    present = {  # a split with some value (AP, or a miss rate of an MR-only evaluation)
        split
        for r in runs
        for split, values in r.metrics.items()
        if any(v is not None for v in values.values())
    }
    return tuple(s for s in ("val", "test") if s in present) or ("test",)


def read_yaml_config(folder: Path) -> Mapping:
    """The run's Detectron2 config as plain data, or ``{}`` when absent or unreadable."""
    try:
        data = yaml.safe_load((folder / CONFIG_YAML).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def fusion_method(config: Mapping, settings: Mapping) -> str:
    """``none``, ``rgb``, ``cssa``, ``add``, ``concat``, ``gated``, ``xattn``, ``gaff``,
    ``late_concat`` or ``other`` (a modality ablation, an aux-only model, a per-stage mix of
    methods or another late fusion)."""
    model = config.get("MODEL", {})
    mit, gaff, fusion = model.get("MIT", {}), model.get("GAFF", {}), model.get("FUSION", {})
    stages = gaff.get("STAGES")  # the old stage key; None (or absent): MODEL.FUSION.STAGES
    if stages is None:
        stages = fusion.get("STAGES", settings.get("gaff_stages"))  # None: not recorded
    unfused = mit.get("UNFUSED_OUTPUT", settings.get("unfused_output", "sum"))
    aux = tuple(mit.get("AUX_CHANNELS", settings.get("aux_channels", DEFAULT_AUX)))
    kind = fusion.get("TYPE", settings.get("fusion_type", "gaff"))
    stage_types = fusion.get("STAGE_TYPES", settings.get("fusion_stage_types"))
    if stages == [] or kind == "none":
        if unfused == "rgb":
            return "rgb"
        return "none" if unfused == "sum" and aux == DEFAULT_AUX else "other"
    if stage_types or aux != DEFAULT_AUX:
        return "other"
    if fusion.get("LATE", settings.get("fusion_late", False)):
        kind = f"late_{kind}"
    return kind if kind in METHOD_NAMES else "other"


# ---- the earlier implementation's summary CSV ----
# One run (seed 0) per row. Its runner skipped phase 2's default rows: they are its phase-1 rows.


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
