"""Phase-1 figures (stage selection): AP per stage set, AP50/AP75, AP per object
size, AP against GAFF parameters and training time, and peak memory per stage set.

Bars show the mean over seeds, the error bar the seed standard deviation and the black
dots the individual seeds; a missing stage set keeps its slot, marked "not run". The
no-fusion, RGB-only and best CSSA runs, when present, are horizontal reference lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..run_files import lower_is_better
from ..study.plan import GaffConfig
from ..study.ranking import mean_of
from .findings import Analysis
from .methods import METHOD_NAMES
from .model import Configuration, RunResult
from .stats import seed_stats
from .style import figure, reference_style, save, stage_colour, styled
from .tables import count

REFERENCE_METHODS = ("none", "rgb", "cssa")
SIZE_KEYS = {"APs": "small", "APm": "medium", "APl": "large"}
# COCO's short names read badly in a figure ("APl" looks like "API").
LABELS = {key: f"AP {size}" for key, size in SIZE_KEYS.items()}


def metric_label(key: str) -> str:
    """A metric as a figure names it: ``AP large``, ``AP50``, ``MR reasonable all``."""
    return LABELS.get(key, key.replace("_", " "))


def has_metric(a: Analysis, rows, key: str) -> bool:
    return any(a.stats(result, key) for _, result in rows)


def _references(a: Analysis, key: str) -> list[tuple[str, float, str]]:
    """(label, mean, method) of each reference run that has this metric."""
    out = []
    for method in REFERENCE_METHODS:
        config = a.reference(method)
        stats = a.stats(config, key)
        if stats is not None:
            out.append((f"{METHOD_NAMES[method]} ({config.label})", stats.mean, method))
    return out


def _bars(
    ax,
    a: Analysis,
    rows: Sequence[tuple[GaffConfig, Configuration | None]],
    key: str,
    legend_columns: int = 3,
) -> bool:
    """Bars of ``key`` per stage set on ``ax``, legend below; False when no stage set has
    the metric."""
    all_stats = [a.stats(result, key) for _, result in rows]
    if not any(all_stats):
        ax.text(0.5, 0.5, f"no {key} in the results", transform=ax.transAxes, ha="center")
        ax.set_axis_off()
        return False
    values, positions = [], range(len(rows))
    for x, (config, result), stats in zip(positions, rows, all_stats, strict=True):
        if stats is None:
            _mark_missing(ax, x, result)
            continue
        values += [stats.mean - (stats.std or 0), stats.mean + (stats.std or 0)]
        ax.bar(
            x,
            stats.mean,
            color=stage_colour(config),
            width=0.7,
            yerr=stats.std or 0,
            capsize=4 if stats.std else 0,
        )
        if stats.n > 1:
            ax.plot([x] * stats.n, stats.values, "k.", markersize=5)
        values += stats.values
        ax.annotate(
            f"{stats.mean:.2f}",
            (x, max(stats.mean + (stats.std or 0), *stats.values)),
            textcoords="offset points",
            xytext=(0, 5),
            ha="center",
            fontsize=9,
        )
    _references_and_limits(ax, a, key, values)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(list(positions), [c.stage_label for c, _ in rows])
    for tick, (config, _) in zip(ax.get_xticklabels(), rows, strict=True):
        if config.stage_label in a.study.phase2_stage_sets:
            tick.set_fontweight("bold")
    ax.set_xlabel("GAFF stage set (bold: taken to phase 2)")
    unit = "%, lower is better" if lower_is_better(key) else "0–100"
    ax.set_ylabel(f"{a.split} {metric_label(key)} ({unit})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=legend_columns, frameon=False
        )
    return True


def _mark_missing(ax, x: float, result: Configuration | None) -> None:
    """Keep the slot of a stage set without the value, saying why."""
    ax.text(
        x,
        0.02,
        "not finished" if result is None else "n/a",
        rotation=90,
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="bottom",
        color="gray",
        fontsize=9,
    )


def _references_and_limits(ax, a: Analysis, key: str, values: list[float]) -> None:
    """Reference lines near the data, and y limits that zoom on the data (the AP
    differences between configurations are a few points on a 0–100 scale)."""
    low, high = min(values), max(values)
    span = max(high - low, 1.0)
    for label, mean, method in _references(a, key):
        colour, style = reference_style(method)
        if low - 3 * span <= mean <= high + 3 * span:
            ax.axhline(mean, color=colour, linestyle=style, lw=1.3, label=f"{label}: {mean:.2f}")
            low, high = min(low, mean), max(high, mean)
        else:  # far off: drawing it would flatten the differences between configurations
            ax.plot([], [], color=colour, linestyle=style, label=f"{label}: {mean:.2f} (off axis)")
    span = max(high - low, 1.0)
    ax.set_ylim(max(0.0, low - 0.35 * span), high + 0.3 * span)


def _noise_text(a: Analysis) -> str:
    if a.noise.known:
        return (
            f"error bars: seed std; dots: seeds; pooled seed σ = {a.noise.sigma:.2f} "
            f"({a.noise.configurations} configurations with ≥ 2 seeds)"
        )
    return "one seed per configuration: seed noise unknown"


@styled
def plot_phase1_ap(a: Analysis, path: Path) -> Path | None:
    fig = figure(9, 4.8)
    ax = fig.add_subplot()
    if not _bars(ax, a, a.study.phase1(), "AP"):
        return None
    ax.set_title(f"Phase 1: {a.split} AP by stage set (r4 is0 mb0)")
    zoomed = "; the y axis does not start at 0" if ax.get_ylim()[0] > 0 else ""
    fig.text(0.01, -0.02, _noise_text(a) + zoomed, fontsize=9, color="dimgray")
    return save(fig, path)


def _panels(a: Analysis, keys: Sequence[str], title, width: float = 6.5) -> Figure | None:
    """One bar panel per metric that some stage set has (a metric without data gets no
    empty panel); None when none has data."""
    rows = a.study.phase1()
    keys = [key for key in keys if has_metric(a, rows, key)]
    if not keys:
        return None
    fig = figure(width * len(keys), 5)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        _bars(ax, a, rows, key, legend_columns=1)
        ax.set_title(title(key))
    return fig


@styled
def plot_phase1_ap50_ap75(a: Analysis, path: Path) -> Path | None:
    fig = _panels(a, ("AP50", "AP75"), lambda key: f"{key} (IoU {key[2:]} %) by stage set")
    return None if fig is None else save(fig, path)


@styled
def plot_phase1_sizes(a: Analysis, path: Path) -> Path | None:
    """Do early stages help small objects, late stages large ones?"""
    fig = _panels(
        a, tuple(SIZE_KEYS), lambda key: f"{SIZE_KEYS[key]} objects ({metric_label(key)})", 5.3
    )
    return None if fig is None else save(fig, path)


@styled
def plot_phase1_miss_rate(a: Analysis, path: Path) -> Path | None:
    """The miss rates (log-average, MR⁻²) per stage set, when the runs evaluated them."""
    fig = _panels(a, a.study.miss_rates, lambda key: f"{metric_label(key)} by stage set")
    return None if fig is None else save(fig, path)


@styled
def plot_phase1_cost(a: Analysis, path: Path) -> Path | None:
    """The selection metric (AP unless a miss rate selects) against the GAFF parameter
    overhead (log scale) and against training time, and the peak training memory of each
    stage set."""
    rows = [(c, r) for c, r in a.study.phase1() if a.stats(r) is not None]
    if not any(
        r.parameter("gaff_total") or mean_of(x.training_hours for x in r.runs) for _, r in rows
    ):
        return None
    fig = figure(18, 4.8)
    axes = fig.add_subplot(1, 3, 1), fig.add_subplot(1, 3, 2)
    x_of = (
        ("GAFF parameters (log scale)", lambda r: r.parameter("gaff_total") or None, True),
        (
            "training time (hours, mean over seeds)",
            lambda r: mean_of(x.training_hours for x in r.runs),
            False,
        ),
    )
    for ax, (x_label, x_value, log) in zip(axes, x_of, strict=True):
        points = [(c, r, x) for c, r in rows if (x := x_value(r)) is not None]
        if not points:
            ax.text(0.5, 0.5, f"{x_label}: not in the results", transform=ax.transAxes, ha="center")
            ax.set_axis_off()
            continue
        for config, result, x in points:
            stats = a.stats(result)
            ax.errorbar(
                x,
                stats.mean,
                yerr=stats.std or 0,
                fmt="o",
                markersize=8,
                color=stage_colour(config),
                capsize=3,
            )
            ax.annotate(
                config.stage_label,
                (x, stats.mean),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize=9.5,
            )
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: count(v)))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(5))
        _references_and_limits(ax, a, a.metric, [v for _, r, _ in points for v in _span(a, r)])
        ax.set_xlabel(x_label)
        unit = "%, lower is better" if a.lower_is_better else "0–100"
        ax.set_ylabel(f"{a.split} {metric_label(a.metric)} ({unit})")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    axes[0].set_title(f"{metric_label(a.metric)} vs GAFF parameter overhead")
    axes[1].set_title(f"{metric_label(a.metric)} vs training time")
    _memory_bars(fig.add_subplot(1, 3, 3), a, a.study.phase1())
    return save(fig, path)


def _peak_memory_gb(run: RunResult) -> float | None:
    return None if run.peak_memory_mb is None else run.peak_memory_mb / 1024


def _memory_bars(ax, a: Analysis, rows: Sequence[tuple[GaffConfig, Configuration | None]]) -> None:
    """Peak training memory per stage set (seed mean and std), the no-fusion run as a line."""
    all_stats = [seed_stats(result, _peak_memory_gb) for _, result in rows]
    if not any(all_stats):
        ax.text(0.5, 0.5, "peak memory: not in the results", transform=ax.transAxes, ha="center")
        ax.set_axis_off()
        return
    for x, ((config, result), stats) in enumerate(zip(rows, all_stats, strict=True)):
        if stats is None:
            _mark_missing(ax, x, result)
            continue
        ax.bar(x, stats.mean, color=stage_colour(config), width=0.7, yerr=stats.std or 0)
        ax.annotate(
            f"{stats.mean:.2f}",
            (x, stats.mean + (stats.std or 0)),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=9,
        )
    baseline = seed_stats(a.reference("none"), _peak_memory_gb)
    if baseline is not None:
        colour, style = reference_style("none")
        label = f"{METHOD_NAMES['none']}: {baseline.mean:.2f} GB"
        ax.axhline(baseline.mean, color=colour, linestyle=style, lw=1.3, label=label)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.set_xticks(range(len(rows)), [c.stage_label for c, _ in rows])
    ax.set_xlabel("GAFF stage set")
    ax.set_ylabel("peak memory (GB)")
    ax.set_title("Peak training memory (CUDA allocated; RSS on a CPU)")


def _span(a: Analysis, config: Configuration) -> list[float]:
    stats = a.stats(config)
    return [stats.mean - (stats.std or 0), stats.mean + (stats.std or 0)]
