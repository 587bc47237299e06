"""Read a study folder written by ``tools/ablate.py`` (the run folders are the truth).

The plan (phase 1, plus phase 2 on ``phase2_selection.json``'s stage sets, times the seeds
found on disk) says what should exist; every planned run that is not finished becomes a
``missing`` line, so a partial study is analysed as far as it goes and says what it lacks.
Any other run folder below the study (or given with ``--extra``), e.g. the no-fusion
baseline or CSSA, is read as an extra configuration grouped over its ``_seedN`` siblings.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ..atomic import read_csv
from ..run_files import (
    COCO_KEYS,
    CONFIG_JSON,
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
    lower_is_better,
)
from ..study.plan import STAGE_SETS, GaffConfig, phase1_plan, phase2_plan, select_metric
from ..study.status import Status, metric, read_final_results, read_json, run_status
from .load_csv import number
from .methods import fusion_method, read_yaml_config
from .model import Configuration, RunResult, StudyData

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
        status = run_status(folder)
        if status is Status.FINISHED:
            runs[config].append(read_run(folder, seed))
        else:
            missing.append(_describe(folder, name if not seed else f"{name} seed {seed}", status))
    grid = {
        config: Configuration(config.code, config.code, tuple(rs), gaff=config)
        for config, rs in runs.items()
    }
    if not phase2_labels:
        missing.append(f"phase 2: not started (no {PHASE2_SELECTION}, no phase-2 run folder)")
    extras, extra_missing = _read_extras(base, extra)
    extras = _compare_settings(grid.values(), extras)
    notes = _manifest_note(base) + [
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
        select_metric=_select_metric(base),
    )


def read_run(folder: Path, seed: int) -> RunResult:
    """A finished run folder: final results, model info, per-epoch metrics, settings."""
    final = read_final_results(folder) or {}
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


def _describe(folder: Path, name: str, status: Status) -> str:
    if status is Status.FAILED:
        reason = read_json(folder / FAILED_RECORD).get("reason", f"see {FAILED_RECORD}")
        return f"{name}: FAILED ({reason})"
    return f"{name}: {status.value}"


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
            status = run_status(folder)
            if status is Status.FINISHED:
                suffix = SEED_SUFFIX.search(folder.name)
                runs.append(read_run(folder, int(suffix["seed"]) if suffix else 0))
            else:
                missing.append(_describe(folder, f"extra run {folder}", status))
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


def _manifest_note(base: Path) -> list[str]:
    manifest = read_json(base / STUDY_MANIFEST)
    if not manifest:
        return []
    opts = " ".join(manifest.get("opts", [])) or "none"
    return [
        f"study settings ({STUDY_MANIFEST}): config {manifest.get('config_file')}, options {opts}"
    ]


def _select_metric(base: Path) -> str:
    """``TEST.SELECT_METRIC`` of the study (its manifest's options and config file)."""
    manifest = read_json(base / STUDY_MANIFEST)
    return select_metric(manifest.get("config_file"), manifest.get("opts", []))


def _splits(runs: Sequence[RunResult]) -> tuple[str, ...]:
    present = {  # a split with some value (AP, or a miss rate of an MR-only evaluation)
        split
        for r in runs
        for split, values in r.metrics.items()
        if any(v is not None for v in values.values())
    }
    return tuple(s for s in ("val", "test") if s in present) or ("test",)
