"""The study plan as data. Phase 1: the eight stage sets at r4 / is0 / mb0. Phase 2: each
selected stage set × {SE reduction 4, 8} × {inter-shared} × {merge-bottleneck} (hypotheses
H1–H4); its default combination is the phase-1 run, listed but never trained again. Names
follow the guide's appendix: ``exp_<XXX>_s<stages>_r<r>_is<0|1>_mb<0|1>``."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

from ..run_files import (
    DEFAULT_SELECT_METRIC,
    GAFF_CODE_PARTS,
    PHASE_FOLDERS,
    RUN_NAME,
    experiment_id,
    seed_suffix,
)

# The comparison studies (.comparison) use their name as their phase. Kept apart from
# PHASE_FOLDERS (the GAFF grid's folders, which projects_gaff.analysis scans as such).
COMPARISON_FOLDERS = {"fusion": "fusion_comparison", "modality": "modality_comparison"}
SELECT_METRIC_KEY = "TEST.SELECT_METRIC"
STAGE_SETS: tuple[tuple[int, ...], ...] = (
    (1,), (2,), (3,), (4,), (2, 3), (3, 4), (2, 3, 4), (1, 2, 3, 4),
)  # fmt: skip
# (se_reduction, inter_shared, merge_bottleneck), in the guide's exp_009 … exp_015 order.
PHASE2_GRID: tuple[tuple[int, bool, bool], ...] = tuple(
    itertools.product((4, 8), (False, True), (False, True))
)


@dataclass(frozen=True)
class GaffConfig:
    """One point of the study's grid."""

    stages: tuple[int, ...]
    se_reduction: int = 4
    inter_shared: bool = False
    merge_bottleneck: bool = False

    @property
    def stage_label(self) -> str:
        return "s" + "".join(str(s) for s in self.stages)

    @property
    def code(self) -> str:
        shared, bottleneck = int(self.inter_shared), int(self.merge_bottleneck)
        return f"{self.stage_label}_r{self.se_reduction}_is{shared}_mb{bottleneck}"

    def opts(self) -> list[str]:
        """Detectron2 options that select this configuration."""
        return [
            "MODEL.FUSION.STAGES", str(list(self.stages)),
            "MODEL.GAFF.SE_REDUCTION", str(self.se_reduction),
            "MODEL.GAFF.INTER_MODE", "shared" if self.inter_shared else "separate",
            "MODEL.GAFF.MERGE_BOTTLENECK", str(self.merge_bottleneck),
        ]  # fmt: skip

    def columns(self) -> dict:
        """This configuration's columns of the summary."""
        return {**asdict(self), "stages": str(list(self.stages))}

    @classmethod
    def from_code(cls, code: str) -> GaffConfig | None:
        """``s23_r8_is1_mb0`` → its configuration; None for any other text or stage set."""
        match = GAFF_CODE_PARTS.match(code)
        stages = tuple(int(s) for s in match["stages"]) if match else ()
        if stages not in STAGE_SETS:
            return None
        return cls(stages, int(match["r"]), match["shared"] == "1", match["mb"] == "1")


@dataclass(frozen=True)
class Experiment:
    """A row of the summary; its runs are in the folder of phase ``trained_in`` (a reused
    phase-2 row: phase 1). ``config`` gives ``code``, ``opts()`` and ``columns()``."""

    number: int
    config: GaffConfig  # or comparison.MethodConfig
    phase: int | str
    trained_in: int | str

    @property
    def exp_id(self) -> str:
        return experiment_id(self.number)

    @property
    def name(self) -> str:
        return f"{self.exp_id}_{self.config.code}"

    @property
    def reused(self) -> bool:
        return self.phase != self.trained_in

    def runs(self, seeds: int) -> list[Run]:
        return [Run(self, seed) for seed in range(seeds)]


@dataclass(frozen=True)
class Run:
    """One training: an experiment with one seed (folder ``<name>_seed<N>`` for N > 0)."""

    experiment: Experiment
    seed: int

    @property
    def name(self) -> str:
        return self.experiment.name + seed_suffix(self.seed)

    @property
    def folder(self) -> Path:
        """Relative to the study's output base."""
        trained_in = self.experiment.trained_in
        return Path({**PHASE_FOLDERS, **COMPARISON_FOLDERS}[trained_in]) / self.name


def phase1_plan() -> list[Experiment]:
    return [
        Experiment(number, GaffConfig(stages), phase=1, trained_in=1)
        for number, stages in enumerate(STAGE_SETS, start=1)
    ]


def phase2_plan(selection: Sequence[str]) -> list[Experiment]:
    """Eight rows per selected stage label, numbered on from exp_009 in selection order, so
    extending a selection later never renames an existing folder."""
    phase1 = {e.config.stage_label: e for e in phase1_plan()}
    rows, number = [], len(STAGE_SETS) + 1
    for label in selection:
        base = phase1[label]
        for r, shared, bottleneck in PHASE2_GRID:
            config = GaffConfig(base.config.stages, r, shared, bottleneck)
            if config == base.config:
                rows.append(replace(base, phase=2))
                continue
            rows.append(Experiment(number, config, phase=2, trained_in=2))
            number += 1
    return rows


def unique_runs(experiments: Iterable[Experiment], seeds: int) -> list[Run]:
    """The trainings behind ``experiments`` (reused rows contribute nothing)."""
    return [run for e in experiments if not e.reused for run in e.runs(seeds)]


def parse_stages(text: str) -> tuple[int, ...]:
    """``3``, ``23``, ``2,3``, ``s23`` or ``[2, 3]`` → ``(2, 3)``."""
    match = re.fullmatch(r"s?\[?([1-4](?:[ ,+]*[1-4])*)\]?", text.strip())
    stages = tuple(sorted({int(c) for c in match.group(1) if c.isdigit()})) if match else ()
    if not stages:
        raise ValueError(f"{text!r} is not a set of MiT stages 1-4 (e.g. 3, 23, 2,3 or s234)")
    return stages


def parse_stage_label(text: str) -> str:
    """``s23``, ``23``, ``[2, 3]`` or a phase-1 experiment name or id → ``s23``."""
    phase1 = {e.exp_id: e.config.stage_label for e in phase1_plan()}
    text, labels = text.strip(), ", ".join(phase1.values())
    run = RUN_NAME.match(text)
    code = phase1.get(text) or (run["code"] if run else text)
    config = GaffConfig.from_code(code)
    try:
        label = config.stage_label if config else GaffConfig(parse_stages(code)).stage_label
    except ValueError:
        label = None
    if label not in phase1.values():
        raise ValueError(f"{text!r} is not a phase-1 stage configuration; choose from {labels}")
    return label


def matches(experiment: Experiment, only: Iterable[str]) -> bool:
    """``--only`` accepts full names (``exp_003_s3_r4_is0_mb0``) or ids (``exp_003``)."""
    return any(item in (experiment.name, experiment.exp_id) for item in only)


def select_metric(config_file: Path | str | None, opts: Sequence[str] = ()) -> str:
    """The metric that picks the best checkpoint and phase 2's stage sets: the last
    ``TEST.SELECT_METRIC`` in ``opts``, else the config file's (following ``_BASE_``), else
    ``AP``. Read as YAML, so neither Detectron2 nor torch is needed."""
    given = dict(zip(opts[::2], opts[1::2], strict=False))
    if SELECT_METRIC_KEY in given:
        return str(given[SELECT_METRIC_KEY])
    path = Path(config_file) if config_file else None
    while path is not None and path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            break
        test = data.get("TEST") if isinstance(data, Mapping) else None
        if isinstance(test, Mapping) and "SELECT_METRIC" in test:
            return str(test["SELECT_METRIC"])
        base = data.get("_BASE_") if isinstance(data, Mapping) else None
        path = path.parent / base if base else None
    return DEFAULT_SELECT_METRIC
