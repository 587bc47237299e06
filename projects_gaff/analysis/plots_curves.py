"""Training curves (convergence, overfitting, H4): training loss, validation AP and the
val − train loss gap per epoch, seed means, one figure per phase (phase 2: one row of panels
per stage set, so a 24-run phase stays readable)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .findings import Analysis
from .model import Configuration
from .stats import loss_gap
from .style import combo_label, combo_style, figure, stage_colour

Row = Mapping[str, float | None]

PANELS: tuple[tuple[str, Callable[[Row], float | None]], ...] = (
    ("training loss (total)", lambda row: row.get("train_total_loss")),
    ("validation AP", lambda row: row.get("val_AP")),
    ("val − train loss (overfitting ↑)", loss_gap),
)


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
