"""``summary_all_experiments.csv`` (the GAFF study) and ``summary_<comparison>.csv``: one row
per experiment of the plan, seeds aggregated.

Read from the run folders every time (never accumulated in memory), so the file is
correct after any kill, rerun or hand edit; it is rewritten atomically. Runs that evaluated
miss rates add their columns (``MR_…`` on test, ``val_MR_…``); ranks follow the study's
selection metric (``TEST.SELECT_METRIC``) in its direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_csv
from ..run_files import COCO_KEYS, DEFAULT_SELECT_METRIC, MODEL_INFO, lower_is_better
from .plan import Experiment
from .ranking import SeedStats, mean_of, pooled_std, rank
from .status import Status, metric, read_final_results, read_json, run_status

SUMMARY_COLUMNS = [
    "exp_id", "name", "phase", "stages", "se_reduction", "inter_shared", "merge_bottleneck",
    *COCO_KEYS, "test_AP_std", "val_AP", "val_AP_std", "val_AP50",
    "seeds", "rank", "val_AP_gap_to_best", "within_noise_of_best",
    "params_total", "params_gaff", "gflops", "train_hours", "inference_fps", "peak_memory_mb",
    "status", "folder",
]  # fmt: skip
# The comparison studies' table (README.md, "Comparison studies"): method, AP, the
# fusion's parameters (model_info.json's ``gaff_total``: whichever fusion modules the
# backbone holds), cost.
COMPARISON_COLUMNS = [
    "exp_id", "name", "method", "stages",
    *COCO_KEYS, "test_AP_std", "val_AP", "val_AP_std", "val_AP50",
    "seeds", "rank", "val_AP_gap_to_best", "within_noise_of_best",
    "params_total", "params_fusion", "gflops", "train_hours", "inference_fps", "peak_memory_mb",
    "status", "folder",
]  # fmt: skip
# A row's status is its worst run's.
_PRECEDENCE = [Status.FAILED, Status.RUNNING, Status.PARTIAL, Status.PENDING, Status.FINISHED]


@dataclass(frozen=True)
class ExperimentResults:
    """An experiment's runs as found on disk: per-run status, finished runs' files."""

    experiment: Experiment
    statuses: tuple[Status, ...]
    results: tuple[dict, ...]
    infos: tuple[dict, ...]

    @property
    def status(self) -> Status:
        return next(s for s in _PRECEDENCE if s in self.statuses)

    def stats(self, split: str, key: str = DEFAULT_SELECT_METRIC) -> SeedStats | None:
        values = [metric(r, split, key) for r in self.results]
        values = [v for v in values if v is not None]
        return SeedStats(tuple(values)) if values else None


def collect(
    base: Path, experiment: Experiment, seeds: int, running: frozenset[str] = frozenset()
) -> ExperimentResults:
    statuses, results, infos = [], [], []
    for run in experiment.runs(seeds):
        folder = base / run.folder
        status = Status.RUNNING if run.name in running else run_status(folder)
        statuses.append(status)
        if status is Status.FINISHED:
            results.append(read_final_results(folder))
            infos.append(read_json(folder / MODEL_INFO))
    return ExperimentResults(experiment, tuple(statuses), tuple(results), tuple(infos))


def noise_sigma(
    collected: Sequence[ExperimentResults], key: str = DEFAULT_SELECT_METRIC
) -> float | None:
    """Pooled seed std of the val metric over the trained experiments (reused rows
    counted once)."""
    return pooled_std(
        s for c in collected if not c.experiment.reused and (s := c.stats("val", key)) is not None
    )


def miss_rate_keys(collected: Sequence[ExperimentResults]) -> list[str]:
    """The miss-rate metrics some finished run reports (none for a COCO-only study)."""
    keys = (k for c in collected for r in c.results for s in ("val", "test") for k in r.get(s, {}))
    return sorted({k for k in keys if lower_is_better(k)})


def summary_columns(
    columns: Sequence[str], collected: Sequence[ExperimentResults], select: str
) -> list[str]:
    """``columns`` with the miss-rate columns (test, then val) after ``val_AP50`` when the
    runs have them, and the gap column named after the selection metric."""
    keys = miss_rate_keys(collected)
    extra = [*keys, *(f"val_{k}" for k in keys)]
    at = columns.index("val_AP50") + 1
    out = [*columns[:at], *extra, *columns[at:]]
    return [_gap_column(select) if c == _gap_column(DEFAULT_SELECT_METRIC) else c for c in out]


def _gap_column(select: str) -> str:
    return f"val_{select}_gap_to_best"


def summary_rows(
    collected: Sequence[ExperimentResults], select: str = DEFAULT_SELECT_METRIC
) -> list[dict]:
    """One row per experiment; ``rank`` and the gap to the best are on val ``select``."""
    sigma = noise_sigma(collected, select)
    ranks = {}
    for phase in dict.fromkeys(c.experiment.phase for c in collected):
        scores = {
            c.experiment.name: s
            for c in collected
            if c.experiment.phase == phase and (s := c.stats("val", select)) is not None
        }
        ranks[phase] = {r.key: r for r in rank(scores, sigma, lower_is_better(select))}
    keys = miss_rate_keys(collected)
    return [
        _row(c, ranks[c.experiment.phase].get(c.experiment.name), select, keys) for c in collected
    ]


def _row(c: ExperimentResults, ranked, select: str, miss_rates: Sequence[str]) -> dict:
    e = c.experiment
    test, val = c.stats("test"), c.stats("val")
    row = {
        "exp_id": e.exp_id,
        "name": e.name,
        "phase": e.phase,
        **e.config.columns(),
        "seeds": len(c.results),
        "status": c.status.value,
        "folder": str(e.runs(1)[0].folder),
    }
    for key in COCO_KEYS:
        stats = c.stats("test", key)
        row[key] = _round(stats.mean if stats else None)
    val50 = c.stats("val", "AP50")
    row.update(
        test_AP_std=_round(test.std if test else None),
        val_AP=_round(val.mean if val else None),
        val_AP_std=_round(val.std if val else None),
        val_AP50=_round(val50.mean if val50 else None),
    )
    for key in miss_rates:
        for split, column in (("test", key), ("val", f"val_{key}")):
            stats = c.stats(split, key)
            row[column] = _round(stats.mean if stats else None)
    if ranked is not None:
        row.update(
            rank=ranked.rank,
            within_noise_of_best=""
            if ranked.within_noise_of_best is None
            else ranked.within_noise_of_best,
        )
        row[_gap_column(select)] = _round(ranked.gap_to_best)
    if c.results:
        params = c.infos[0].get("parameters", {})
        row.update(
            params_total=params.get("total"),
            params_gaff=params.get("gaff_total"),
            params_fusion=params.get("gaff_total"),
            gflops=_round(c.infos[0].get("gflops")),
            train_hours=_round(mean_of(r.get("training_hours") for r in c.results), 4),
            inference_fps=_round(mean_of(r.get("inference_fps") for r in c.results), 2),
            peak_memory_mb=_round(max((r.get("peak_memory_mb") or 0) for r in c.results), 1),
        )
    return row


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def write_summary(
    path: Path,
    collected: Sequence[ExperimentResults],
    columns: Sequence[str] = SUMMARY_COLUMNS,
    select: str = DEFAULT_SELECT_METRIC,
) -> None:
    columns = summary_columns(columns, collected, select)
    atomic_write_csv(path, columns, summary_rows(collected, select))
