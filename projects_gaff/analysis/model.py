"""The analysis' view of a study: configurations, their runs (one per seed), what is missing.

Both sources, the run folders written by ``tools/ablate.py`` and the earlier implementation's
summary CSV, are turned into these records, so the statistics, plots and report never care
where a number came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..study.plan import PHASE2_GRID, STAGE_SETS, GaffConfig

Metrics = Mapping[str, Mapping[str, float | None]]  # split → COCO key → AP (0–100)
DEFAULT_AUX = ("thermal", "event")


@dataclass(frozen=True)
class RunResult:
    """One finished training (one seed). Values absent from the source stay None."""

    seed: int
    metrics: Metrics
    best_epoch: int | None = None
    training_hours: float | None = None
    inference_fps: float | None = None
    peak_memory_mb: float | None = None
    parameters: Mapping[str, int] = field(default_factory=dict)
    gflops: float | None = None
    epochs: tuple[Mapping[str, float | None], ...] = ()  # metrics_per_epoch.csv rows
    settings: Mapping[str, object] = field(default_factory=dict)  # config.json

    def metric(self, split: str, key: str = "AP") -> float | None:
        return self.metrics.get(split, {}).get(key)


@dataclass(frozen=True)
class Configuration:
    """A configuration and its finished runs. ``gaff`` is set for points of the study's
    grid; other runs (baselines, CSSA, ...) carry their fusion ``method`` instead."""

    key: str
    label: str
    runs: tuple[RunResult, ...]
    gaff: GaffConfig | None = None
    method: str = "gaff"
    names: tuple[str, ...] = ()  # experiment / folder names, for the report

    @property
    def first(self) -> RunResult:
        return self.runs[0]

    def parameter(self, name: str) -> int | None:
        """A parameter count (``total``, ``gaff_total``, ...) of the first run: the
        architecture, hence the count, is the same for every seed."""
        return self.first.parameters.get(name) if self.runs else None


@dataclass(frozen=True)
class StudyData:
    """Everything the analysis reads. ``grid`` holds the study's configurations that have at
    least one finished run; ``missing`` says, one line each, which runs are not finished."""

    source: str
    grid: Mapping[GaffConfig, Configuration]
    phase2_stage_sets: tuple[str, ...]
    extras: tuple[Configuration, ...] = ()
    missing: tuple[str, ...] = ()
    seeds: int = 1
    splits: tuple[str, ...] = ("val", "test")
    notes: tuple[str, ...] = ()

    @property
    def selection_split(self) -> str:
        """Model selection (ranking, best configuration) never looks at the test split when
        a validation split exists (DESIGN_NOTES §2.7)."""
        return "val" if "val" in self.splits else self.splits[0]

    def phase1(self) -> list[tuple[GaffConfig, Configuration | None]]:
        """The eight stage sets with the default hyper-parameters, in the plan's order."""
        return [(c, self.grid.get(c)) for c in (GaffConfig(s) for s in STAGE_SETS)]

    def phase2(self, stage_label: str) -> list[tuple[GaffConfig, Configuration | None]]:
        """The eight hyper-parameter combinations of one phase-2 stage set (grid order)."""
        stages = next(s for s in STAGE_SETS if GaffConfig(s).stage_label == stage_label)
        return [
            (c, self.grid.get(c))
            for c in (GaffConfig(stages, r, shared, mb) for r, shared, mb in PHASE2_GRID)
        ]

    def phase2_configurations(self) -> list[Configuration]:
        return [c for label in self.phase2_stage_sets for _, c in self.phase2(label) if c]

    def extras_of(self, *methods: str) -> list[Configuration]:
        return [c for c in self.extras if c.method in methods]
