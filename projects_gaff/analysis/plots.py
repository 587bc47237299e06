"""The report's figures, as plain ``Figure`` objects (pyplot's global state is never touched;
the report applies ``RC`` while it draws and saves them). A configuration has the same
colour in every plot: tab10 by stage set, and in phase 2 Dark2 by (inter-shared, merge) with
r4 solid (circles) and r8 dashed (squares). A missing stage set keeps its slot."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..run_files import lower_is_better
from ..study.plan import STAGE_SETS, GaffConfig
from ..study.ranking import SeedStats, mean_of
from .findings import Analysis, Finding
from .model import METHOD_NAMES, Configuration
from .stats import Estimate, ap, contrast, loss_gap, seed_stats
from .tables import count

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 110
STAGE_COLOURS = {
    GaffConfig(s).stage_label: matplotlib.colormaps["tab10"](i) for i, s in enumerate(STAGE_SETS)
}
_REFERENCE_STYLES = {  # method → (colour, line style)
    "none": ("black", "--"),
    "rgb": ("dimgray", ":"),
    "cssa": ("#8c564b", "-."),
}
Rows = Sequence[tuple[GaffConfig, Configuration | None]]
SIZE_KEYS = {"APs": "small", "APm": "medium", "APl": "large"}
# COCO's short names read badly in a figure ("APl" looks like "API").
LABELS = {key: f"AP {size}" for key, size in SIZE_KEYS.items()}
_MISSING_TEXT = {"rotation": 90, "ha": "center", "va": "bottom", "color": "gray", "fontsize": 9}
_COLUMNS = ((False, False), (False, True), (True, False), (True, True))  # (shared, bottleneck)
_PAIR_COLOURS = dict(zip(_COLUMNS, ("#1b9e77", "#d95f02", "#7570b3", "#e7298a"), strict=True))
Row = Mapping[str, float | None]

PANELS: tuple[tuple[str, Callable[[Row], float | None]], ...] = (
    ("training loss (total)", lambda row: row.get("train_total_loss")),
    ("validation AP", lambda row: row.get("val_AP")),
    ("val − train loss (overfitting ↑)", loss_gap),
)


def figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def stage_colour(config: GaffConfig):
    return STAGE_COLOURS[config.stage_label]


def combo_style(config: GaffConfig) -> dict:
    """Line and marker style of a phase-2 hyper-parameter combination."""
    r4 = config.se_reduction == 4
    return {
        "color": _PAIR_COLOURS[(config.inter_shared, config.merge_bottleneck)],
        "linestyle": "-" if r4 else "--",
        "marker": "o" if r4 else "s",
    }


def combo_label(config: GaffConfig) -> str:
    """``r8 is1 mb0``: the configuration without its stage set."""
    return config.code.split("_", 1)[1].replace("_", " ")


def reference_style(method: str) -> tuple[str, object]:
    return _REFERENCE_STYLES.get(method, ("gray", (0, (5, 2, 1, 2))))


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


# ---- phase 1 ----


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


# ---- phase 2 ----


def plot_phase2_heatmap(a: Analysis) -> Figure | None:
    """One 2 × 4 grid (r × inter-shared/merge) per phase-2 stage set, one colour scale,
    coloured by the reported split. The box marks each set's best cell by the selection
    rule (the selection metric on the selection split), never by the test values shown."""
    labels = a.study.phase2_stage_sets
    grids = {label: _grid(a, label) for label in labels}
    sel = a.study.selection_split
    values = [v for g in grids.values() for v in g.flatten() if not math.isnan(v)]
    if not values:
        return None
    low, high = min(values), max(values)
    cols = min(3, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig = figure(4.3 * cols + 1.2, 2.9 * rows + 0.4)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(labels))]
    image = None
    for i, (ax, label) in enumerate(zip(axes, labels, strict=True)):
        grid = grids[label]
        cmap = "viridis_r" if a.lower_is_better else "viridis"  # bright: better
        image = ax.imshow(grid, cmap=cmap, vmin=low, vmax=high if high > low else low + 1)
        ax.grid(False)
        ax.set_facecolor("#e8e8e8")  # missing cells
        for (r, c), value in np.ndenumerate(grid):
            bright = image.norm(value) > 0.45 if a.lower_is_better else image.norm(value) < 0.55
            if math.isnan(value):
                text, colour = "missing", "gray"
            else:
                text, colour = f"{value:.2f}", "white" if bright else "black"
            ax.text(c, r, text, ha="center", va="center", fontsize=10, color=colour)
        cell = selected_cell(a, label)
        if cell is not None:
            r, c = cell
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", lw=2.5))
        ax.set_xticks(range(4), [f"is{int(s)}\nmb{int(b)}" for s, b in _COLUMNS])
        ax.set_yticks([0, 1], ["r4", "r8"])
        ax.set_title(f"#{i + 1} {label}")
    fig.colorbar(image, ax=axes, label=f"{a.split} {a.metric}", shrink=0.9)
    fig.text(
        0.01, -0.04, f"red box: the set's best cell on {sel} {a.metric} (the selection rule)",
        fontsize=9, color="dimgray",
    )  # fmt: skip
    return fig


def selected_cell(a: Analysis, label: str) -> tuple[int, int] | None:
    """(row, column) of the set's best cell by the selection rule: the selection metric on
    the selection split (validation), in its direction; None without values."""
    grid = _grid(a, label, a.study.selection_split)
    if np.isnan(grid).all():
        return None
    best = np.nanargmin if a.lower_is_better else np.nanargmax
    r, c = np.unravel_index(best(grid), grid.shape)
    return int(r), int(c)


def _grid(a: Analysis, label: str, split: str | None = None) -> np.ndarray:
    """The set's 2 × 4 cells of the selection metric on ``split`` (the reported one)."""
    grid = np.full((2, 4), np.nan)
    for config, result in a.study.phase2(label):
        stats = seed_stats(result, ap(split or a.split, a.metric))
        if stats is not None:
            row = 0 if config.se_reduction == 4 else 1
            grid[row, _COLUMNS.index((config.inter_shared, config.merge_bottleneck))] = stats.mean
    return grid


def plot_main_effects(a: Analysis) -> Figure | None:
    """Each hypothesis' mean paired effect (bar, ± 2 SE when the noise is known) and its
    pairs (dots, coloured by stage set); positive always supports the hypothesis."""
    if all(f.effect.estimate is None for f in a.findings):
        return None
    fig = figure(12, 5)
    grid = fig.add_gridspec(1, 2, width_ratios=(3, 1.2))
    ap_axis, gap_axis = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    stages: dict[str, object] = {}
    for ax, on_gap in ((ap_axis, False), (gap_axis, True)):
        findings = [f for f in a.findings if f.hypothesis.on_gap == on_gap]
        extent = [0.0]
        for x, finding in enumerate(findings):
            extent += _effect(ax, x, finding, stages)
        low, high = min(extent), max(extent)
        margin = 0.15 * (high - low) or 1.0
        ax.set_ylim(low - margin, high + margin)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(findings)), [_tick(f) for f in findings])
        ax.set_xlim(-0.6, len(findings) - 0.4)
    ap_axis.set_ylabel(f"Δ {a.split} AP (positive supports the hypothesis)")
    ap_axis.set_title("H1–H3: AP effect of each hyper-parameter (paired)")
    gap_axis.set_ylabel("Δ (val − train) total loss")
    gap_axis.set_title("H4: overfitting")
    handles = [Line2D([], [], marker="o", ls="", color=c, label=s) for s, c in stages.items()]
    handles.append(Rectangle((0, 0), 1, 1, fc="lightgray", ec="black", label="mean over pairs"))
    if a.noise.known:
        handles.append(Line2D([], [], color="black", marker="_", label="± 2 SE (seed noise)"))
    else:
        handles.append(Line2D([], [], ls="", label="seed noise unknown:\nno error bars"))
    fig.legend(handles=handles, loc="outside right upper", title="pairs at stage set")
    return fig


def _effect(ax, x: int, finding: Finding, stages: dict) -> list[float]:
    """Draw one hypothesis' bar, error bar and pair dots; return the y values drawn."""
    estimate = finding.effect.estimate
    if estimate is None:
        ax.text(x, 0.5, "no pair", transform=ax.get_xaxis_transform(), ha="center", color="gray")
        return []
    ax.bar(x, estimate.value, width=0.6, color="lightgray", edgecolor="black")
    error = estimate.threshold or 0.0
    if error:
        ax.errorbar(x, estimate.value, yerr=error, color="black", capsize=6, lw=1.5)
    pairs = finding.effect.pairs
    offsets = np.linspace(-0.2, 0.2, len(pairs)) if len(pairs) > 1 else [0.0]
    for offset, pair in zip(offsets, pairs, strict=True):
        label = pair.favoured.gaff.stage_label
        stages[label] = stage_colour(pair.favoured.gaff)
        ax.plot(x + offset, pair.diff, "o", color=stages[label], markeredgecolor="black", ms=6)
    return [estimate.value - error, estimate.value + error, *(p.diff for p in pairs)]


def _tick(finding: Finding) -> str:
    h = finding.hypothesis
    note = "\n(same function family)" if h.factor == "inter_shared" else ""
    agree = f"{finding.effect.agreeing}/{len(finding.effect.pairs)} pairs > 0"
    return f"{h.code}: {finding.contrast}\n{agree}\n→ {finding.verdict}{note}"


def plot_interaction(a: Analysis) -> Figure | None:
    """AP against r for is0 and is1, one panel per merge, averaged over the phase-2 stage
    sets that have the cell (error bars ± 2 SE when the seed noise is known)."""
    if not any(a.stats(c) for c in a.study.phase2_configurations()):
        return None
    fig = figure(11, 4.6)
    left = fig.add_subplot(1, 2, 1)
    axes = left, fig.add_subplot(1, 2, 2, sharey=left)
    for ax, bottleneck in zip(axes, (False, True), strict=True):
        for shared in (False, True):
            points = [(r, e) for r in (4, 8) if (e := _cell(a, r, shared, bottleneck))]
            style = combo_style(GaffConfig((1,), 4, shared, bottleneck))
            ax.errorbar(
                [r + (0.12 if shared else -0.12) for r, _ in points],
                [e.value for _, e in points],
                yerr=[e.threshold or 0 for _, e in points],
                color=style["color"],
                marker="o",
                capsize=4,
                linewidth=2,
                label=f"{'shared' if shared else 'separate'} (is{int(shared)})",
            )
        ax.set_xticks([4, 8], ["r4", "r8"])
        ax.set_xlim(3, 9)
        ax.set_xlabel("SE reduction")
        ax.set_title(f"{'bottleneck' if bottleneck else 'direct'} merge (mb{int(bottleneck)})")
        ax.legend(title="inter-modality attention")
    bars = "error bars ± 2 SE of the seed noise" if a.noise.known else "seed noise unknown"
    fig.suptitle(f"SE reduction × inter-modality attention × merge ({bars})")
    sets = len(a.study.phase2_stage_sets)
    left.set_ylabel(f"{a.split} AP, mean over {sets} stage set{'s' * (sets > 1)}")
    return fig


def _cell(a: Analysis, r: int, shared: bool, bottleneck: bool) -> Estimate | None:
    """Mean AP of one grid cell over the phase-2 stage sets that trained it."""
    cells = [
        stats
        for c in a.study.phase2_configurations()
        if (c.gaff.se_reduction, c.gaff.inter_shared, c.gaff.merge_bottleneck)
        == (r, shared, bottleneck)
        and (stats := a.stats(c)) is not None
    ]
    return contrast([(s, 1 / len(cells)) for s in cells], a.noise) if cells else None


# ---- training curves ----


def seed_mean_curve(config: Configuration, value: Callable[[Row], float | None]):
    """(epochs, mean over the seeds that logged that epoch)."""
    by_epoch: dict[float, list[float]] = defaultdict(list)
    for run in config.runs:
        for row in run.epochs:
            epoch, v = row.get("epoch"), value(row)
            if epoch is not None and v is not None:
                by_epoch[epoch].append(v)
    epochs = sorted(by_epoch)
    return epochs, [statistics.fmean(by_epoch[e]) for e in epochs]


def _draw_row(axes: Sequence, curves: Sequence[tuple[Configuration, dict]]) -> None:
    for ax, (title, value) in zip(axes, PANELS, strict=True):
        last = 1.0
        for config, style in curves:
            epochs, values = seed_mean_curve(config, value)
            ax.plot(epochs, values, markersize=4, linewidth=1.6, **style)
            last = max([last, *epochs])
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, last + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _has_curves(config: Configuration | None) -> bool:
    """A curve needs two epochs: a one-epoch run would be a column of dots."""
    return config is not None and any(len(run.epochs) > 1 for run in config.runs)


def why_no_curves(configs: Sequence[Configuration | None]) -> str:
    """Why a curves figure was not drawn, for the report."""
    runs = [r for c in configs if c is not None for r in c.runs]
    if runs and all(len(r.epochs) == 1 for r in runs):
        return "every finished run logged one epoch; a curve needs two"
    return "no data for it yet"


def plot_curves_phase1(a: Analysis) -> Figure | None:
    rows = [(c, r) for c, r in a.study.phase1() if _has_curves(r)]
    if not rows:
        return None
    fig = figure(15, 4.4)
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    curves = [(r, {"color": stage_colour(c), "marker": "o"}) for c, r in rows]
    _draw_row(axes, curves)
    handles = [
        Line2D([], [], label=c.stage_label, **style)
        for (c, _), (_, style) in zip(rows, curves, strict=True)
    ]
    fig.legend(handles=handles, loc="outside right upper", title="stage set")
    fig.suptitle("Phase 1 training curves (mean over seeds)")
    return fig


def plot_curves_phase2(a: Analysis) -> Figure | None:
    labels = [
        label
        for label in a.study.phase2_stage_sets
        if any(_has_curves(r) for _, r in a.study.phase2(label))
    ]
    if not labels:
        return None
    fig = figure(15, 3.6 * len(labels) + 0.6)
    grid = fig.add_gridspec(len(labels), 3)
    for row, label in enumerate(labels):
        axes = [fig.add_subplot(grid[row, col]) for col in range(3)]
        curves = [(r, combo_style(c)) for c, r in a.study.phase2(label) if _has_curves(r)]
        _draw_row(axes, curves)
        axes[0].set_ylabel(f"stage set {label}", fontsize=12, fontweight="bold")
    combos = [c for c, _ in a.study.phase2(labels[0])]
    handles = [Line2D([], [], label=combo_label(c), **combo_style(c)) for c in combos]
    fig.legend(handles=handles, loc="outside right upper", title="hyper-parameters")
    fig.suptitle("Phase 2 training curves (mean over seeds), one row per stage set")
    return fig
