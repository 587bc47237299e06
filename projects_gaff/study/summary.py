"""``summary_all_experiments.csv`` / ``summary_<comparison>.csv``: one row per experiment,
seeds aggregated, ranked on the selection metric. Rebuilt from the run folders every time,
so it is right after any kill, rerun or hand edit."""

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
# params_fusion: model_info.json's ``gaff_total``, whichever fusion modules the backbone holds
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
    """An experiment's runs on disk: per-run status, finished runs' files."""

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
    """Pooled seed std of the val metric (reused rows counted once)."""
    return pooled_std(
        s for c in collected if not c.experiment.reused and (s := c.stats("val", key)) is not None
    )


def write_summary(
    path: Path,
    collected: Sequence[ExperimentResults],
    columns: Sequence[str] = SUMMARY_COLUMNS,
    select: str = DEFAULT_SELECT_METRIC,
) -> None:
    """``rank`` and the gap to the best are on val ``select``, within each phase; the miss
    rates some finished run reports (test, then val) go after ``val_AP50``."""
    keys = (k for c in collected for r in c.results for s in ("val", "test") for k in r.get(s, {}))
    miss_rates = sorted({k for k in keys if lower_is_better(k)})
    gap = f"val_{select}_gap_to_best"
    at = columns.index("val_AP50") + 1
    columns = [*columns[:at], *miss_rates, *(f"val_{k}" for k in miss_rates), *columns[at:]]
    columns = [gap if c == "val_AP_gap_to_best" else c for c in columns]
    sigma = noise_sigma(collected, select)
    ranks = {}
    for phase in dict.fromkeys(c.experiment.phase for c in collected):
        scores = {
            c.experiment.name: s
            for c in collected
            if c.experiment.phase == phase and (s := c.stats("val", select)) is not None
        }
        ranks[phase] = {r.key: r for r in rank(scores, sigma, lower_is_better(select))}
    rows = [
        _row(c, ranks[c.experiment.phase].get(c.experiment.name), gap, miss_rates)
        for c in collected
    ]
    atomic_write_csv(path, columns, rows)


def _row(c: ExperimentResults, ranked, gap: str, miss_rates: Sequence[str]) -> dict:
    e = c.experiment

    def stat(split: str, key: str = "AP", std: bool = False) -> float | None:
        stats = c.stats(split, key)
        return _round(None if stats is None else stats.std if std else stats.mean)

    row = {
        "exp_id": e.exp_id,
        "name": e.name,
        "phase": e.phase,
        **e.config.columns(),
        **{key: stat("test", key) for key in (*COCO_KEYS, *miss_rates)},
        **{f"val_{key}": stat("val", key) for key in ("AP", "AP50", *miss_rates)},
        "test_AP_std": stat("test", std=True),
        "val_AP_std": stat("val", std=True),
        "seeds": len(c.results),
        "status": c.status.value,
        "folder": str(e.runs(1)[0].folder),
    }
    if ranked is not None:
        within = ranked.within_noise_of_best
        row.update(rank=ranked.rank, within_noise_of_best="" if within is None else within)
        row[gap] = _round(ranked.gap_to_best)
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
