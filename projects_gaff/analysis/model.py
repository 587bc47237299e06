"""The analysis' view of a study, whichever source it was read from (run folders or the
earlier implementation's summary CSV): configurations, their runs, what is missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..run_files import DEFAULT_SELECT_METRIC, lower_is_better
from ..study.plan import GaffConfig, phase1_plan, phase2_plan

# split → metric → value: COCO keys (AP, 0–100) and, when evaluated, miss rates (MR_…, %)
Metrics = Mapping[str, Mapping[str, float | None]]
DEFAULT_AUX = ("thermal", "event")
METHOD_NAMES = {
    "none": "no fusion",
    "rgb": "RGB only",
    "cssa": "CSSA",
    "add": "add",
    "concat": "concat",
    "gated": "gated GAFF",
    "xattn": "cross-attention",
    "late_concat": "late concat",
    "gaff": "GAFF",
    "other": "other",
}


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

    def metric(self, split: str, key: str = DEFAULT_SELECT_METRIC) -> float | None:
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
    differs: str = ""  # how its training settings differ from the study's ("" = the same)

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
    select_metric: str = DEFAULT_SELECT_METRIC  # TEST.SELECT_METRIC of the study's runs

    @property
    def miss_rates(self) -> tuple[str, ...]:
        """The miss-rate metrics some run reports (none in a COCO-only study)."""
        configs = [*self.grid.values(), *self.extras]
        keys = {k for c in configs for r in c.runs for m in r.metrics.values() for k in m}
        return tuple(sorted(k for k in keys if lower_is_better(k)))

    @property
    def selection_split(self) -> str:
        """Model selection (ranking, best configuration) never looks at the test split when
        a validation split exists: the test split never chooses a model."""
        return "val" if "val" in self.splits else self.splits[0]

    def phase1(self) -> list[tuple[GaffConfig, Configuration | None]]:
        """The eight stage sets with the default hyper-parameters, in the plan's order."""
        return [(e.config, self.grid.get(e.config)) for e in phase1_plan()]

    def phase2(self, stage_label: str) -> list[tuple[GaffConfig, Configuration | None]]:
        """The eight hyper-parameter combinations of one phase-2 stage set (default first)."""
        return [(e.config, self.grid.get(e.config)) for e in phase2_plan([stage_label])]

    @property
    def planned(self) -> list[GaffConfig]:
        return planned_configs(self.phase2_stage_sets)

    def phase1_configurations(self) -> list[Configuration]:
        return [c for _, c in self.phase1() if c]

    def phase2_configurations(self) -> list[Configuration]:
        return [c for label in self.phase2_stage_sets for _, c in self.phase2(label) if c]

    def references(self, method: str) -> list[Configuration]:
        """Runs of one method trained with the study's settings (comparable with it)."""
        return [c for c in self.extras if c.method == method and not c.differs]


def planned_configs(phase2_stage_sets: Sequence[str]) -> list[GaffConfig]:
    """The study's configurations: phase 1, then phase 2's (its defaults are phase 1's)."""
    return list(dict.fromkeys(e.config for e in phase1_plan() + phase2_plan(phase2_stage_sets)))
