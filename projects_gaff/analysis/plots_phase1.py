"""Phase-1 figures: bars of the seed mean per stage set (error bar: seed std, dots: seeds; a
missing stage set keeps its slot), the no-fusion, RGB-only and CSSA runs as reference lines."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..run_files import lower_is_better
from ..study.plan import GaffConfig
from ..study.ranking import SeedStats, mean_of
from .findings import Analysis
from .methods import METHOD_NAMES
from .model import Configuration
from .stats import seed_stats
from .style import figure, reference_style, stage_colour
from .tables import count

Rows = Sequence[tuple[GaffConfig, Configuration | None]]
SIZE_KEYS = {"APs": "small", "APm": "medium", "APl": "large"}
# COCO's short names read badly in a figure ("APl" looks like "API").
LABELS = {key: f"AP {size}" for key, size in SIZE_KEYS.items()}
_MISSING_TEXT = {"rotation": 90, "ha": "center", "va": "bottom", "color": "gray", "fontsize": 9}


def metric_label(key: str) -> str:
    """A metric as a figure names it: ``AP large``, ``AP50``, ``MR reasonable all``."""
    return LABELS.get(key, key.replace("_", " "))


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center")
    ax.set_axis_off()


def _legend_below(ax, columns: int = 1) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=columns, frameon=False)


def _ylabel(ax, a: Analysis, key: str) -> None:
    unit = "%, lower is better" if lower_is_better(key) else "0–100"
    ax.set_ylabel(f"{a.split} {metric_label(key)} ({unit})")


def _stage_bars(ax, rows: Rows, all_stats: list[SeedStats | None], seeds: bool) -> list[float]:
    """One bar per stage set (and, with ``seeds``, a dot per seed); a stage set without a
    value keeps its slot, saying why. Returns the values drawn."""
    values = []
    for x, ((config, result), stats) in enumerate(zip(rows, all_stats, strict=True)):
        if stats is None:
            why = "not finished" if result is None else "n/a"
            ax.text(x, 0.02, why, transform=ax.get_xaxis_transform(), **_MISSING_TEXT)
            continue
        std = stats.std or 0
        capsize = 4 if seeds and std else 0
        ax.bar(x, stats.mean, color=stage_colour(config), width=0.7, yerr=std, capsize=capsize)
        if seeds and stats.n > 1:
            ax.plot([x] * stats.n, stats.values, "k.", markersize=5)
        top = max(stats.mean + std, *stats.values) if seeds else stats.mean + std
        ax.annotate(
            f"{stats.mean:.2f}",
            (x, top),
            textcoords="offset points",
            xytext=(0, 5 if seeds else 4),
            ha="center",
            fontsize=9,
        )
        values += [stats.mean - std, stats.mean + std, *stats.values]
    return values


def _bars(ax, a: Analysis, rows: Rows, key: str, legend_columns: int = 3) -> bool:
    """Bars of ``key`` per stage set, legend below; False when no stage set has the metric."""
    all_stats = [a.stats(result, key) for _, result in rows]
    if not any(all_stats):
        _no_data(ax, f"no {key} in the results")
        return False
    _references_and_limits(ax, a, key, _stage_bars(ax, rows, all_stats, seeds=True))
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(range(len(rows)), [c.stage_label for c, _ in rows])
    for tick, (config, _) in zip(ax.get_xticklabels(), rows, strict=True):
        if config.stage_label in a.study.phase2_stage_sets:
            tick.set_fontweight("bold")
    ax.set_xlabel("GAFF stage set (bold: taken to phase 2)")
    _ylabel(ax, a, key)
    _legend_below(ax, legend_columns)
    return True


def _references_and_limits(ax, a: Analysis, key: str, values: list[float]) -> None:
    """Reference lines near the data, and y limits that zoom on the data (the AP
    differences between configurations are a few points on a 0–100 scale)."""
    low, high = min(values), max(values)
    span = max(high - low, 1.0)
    for method in ("none", "rgb", "cssa"):
        config = a.reference(method)
        if (stats := a.stats(config, key)) is None:
            continue
        label, mean = f"{METHOD_NAMES[method]} ({config.label}): {stats.mean:.2f}", stats.mean
        colour, style = reference_style(method)
        if low - 3 * span <= mean <= high + 3 * span:
            ax.axhline(mean, color=colour, linestyle=style, lw=1.3, label=label)
            low, high = min(low, mean), max(high, mean)
        else:  # far off: drawing it would flatten the differences between configurations
            ax.plot([], [], color=colour, linestyle=style, label=f"{label} (off axis)")
    span = max(high - low, 1.0)
    ax.set_ylim(max(0.0, low - 0.35 * span), high + 0.3 * span)


def plot_phase1_ap(a: Analysis) -> Figure | None:
    fig = figure(9, 4.8)
    ax = fig.add_subplot()
    if not _bars(ax, a, a.study.phase1(), "AP"):
        return None
    ax.set_title(f"Phase 1: {a.split} AP by stage set (r4 is0 mb0)")
    noise = a.noise
    text = (
        f"error bars: seed std; dots: seeds; pooled seed σ = {noise.sigma:.2f} "
        f"({noise.configurations} configurations with ≥ 2 seeds)"
        if noise.known
        else "one seed per configuration: seed noise unknown"
    )
    zoomed = "; the y axis does not start at 0" if ax.get_ylim()[0] > 0 else ""
    fig.text(0.01, -0.02, text + zoomed, fontsize=9, color="dimgray")
    return fig


def panels(a: Analysis, keys: Sequence[str], title, width: float = 6.5) -> Figure | None:
    """One bar panel per metric that some stage set has (a metric without data gets no
    empty panel); None when none has data."""
    rows = a.study.phase1()
    keys = [key for key in keys if any(a.stats(result, key) for _, result in rows)]
    if not keys:
        return None
    fig = figure(width * len(keys), 5)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        _bars(ax, a, rows, key, legend_columns=1)
        ax.set_title(title(key))
    return fig


def plot_phase1_ap50_ap75(a: Analysis) -> Figure | None:
    return panels(a, ("AP50", "AP75"), lambda key: f"{key} (IoU {key[2:]} %) by stage set")


def plot_phase1_sizes(a: Analysis) -> Figure | None:
    """Do early stages help small objects, late stages large ones?"""
    return panels(a, SIZE_KEYS, lambda key: f"{SIZE_KEYS[key]} objects ({metric_label(key)})", 5.3)


def plot_phase1_miss_rate(a: Analysis) -> Figure | None:
    """The miss rates (log-average, MR⁻²) per stage set, when the runs evaluated them."""
    return panels(a, a.study.miss_rates, lambda key: f"{metric_label(key)} by stage set")


def plot_phase1_cost(a: Analysis) -> Figure | None:
    """The selection metric against the GAFF parameter overhead (log scale) and against
    training time, and the peak training memory of each stage set."""
    rows = [(c, r) for c, r in a.study.phase1() if a.stats(r) is not None]

    def hours(config: Configuration) -> float | None:
        return mean_of(run.training_hours for run in config.runs)

    if not any(r.parameter("gaff_total") or hours(r) for _, r in rows):
        return None
    fig = figure(18, 4.8)
    x_of = (
        ("GAFF parameters (log scale)", lambda r: r.parameter("gaff_total") or None, True),
        ("training time (hours, mean over seeds)", hours, False),
    )
    for i, (x_label, x_value, log) in enumerate(x_of):
        ax = fig.add_subplot(1, 3, i + 1)
        points = [(c, a.stats(r), x) for c, r in rows if (x := x_value(r)) is not None]
        if not points:
            _no_data(ax, f"{x_label}: not in the results")
            continue
        for config, stats, x in points:
            colour = stage_colour(config)
            ax.errorbar(
                x, stats.mean, yerr=stats.std or 0, fmt="o", markersize=8, color=colour, capsize=3
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
        spans = [s.mean + sign * (s.std or 0) for _, s, _ in points for sign in (-1, 1)]
        _references_and_limits(ax, a, a.metric, spans)
        ax.set_xlabel(x_label)
        _ylabel(ax, a, a.metric)
        _legend_below(ax, 2)
    for ax, versus in zip(fig.axes, ("GAFF parameter overhead", "training time"), strict=True):
        ax.set_title(f"{metric_label(a.metric)} vs {versus}")
    _memory_bars(fig.add_subplot(1, 3, 3), a, a.study.phase1())
    return fig


def _memory_bars(ax, a: Analysis, rows: Rows) -> None:
    """Peak training memory per stage set (seed mean and std), the no-fusion run as a line."""

    def gigabytes(run):
        return None if run.peak_memory_mb is None else run.peak_memory_mb / 1024

    all_stats = [seed_stats(result, gigabytes) for _, result in rows]
    if not any(all_stats):
        _no_data(ax, "peak memory: not in the results")
        return
    _stage_bars(ax, rows, all_stats, seeds=False)
    baseline = seed_stats(a.reference("none"), gigabytes)
    if baseline is not None:
        colour, style = reference_style("none")
        label = f"{METHOD_NAMES['none']}: {baseline.mean:.2f} GB"
        ax.axhline(baseline.mean, color=colour, linestyle=style, lw=1.3, label=label)
        _legend_below(ax)
    ax.set_xticks(range(len(rows)), [c.stage_label for c, _ in rows])
    ax.set_xlabel("GAFF stage set")
    ax.set_ylabel("peak memory (GB)")
    ax.set_title("Peak training memory (CUDA allocated; RSS on a CPU)")
