"""Phase-2 figures: the metric over each stage set's hyper-parameter grid, the paired effect
of each hyper-parameter (H1–H4), and the r × inter-shared × merge interaction."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..study.plan import GaffConfig
from .findings import Analysis, Finding
from .stats import Estimate, ap, contrast, seed_stats
from .style import combo_style, figure, stage_colour

_COLUMNS = ((False, False), (False, True), (True, False), (True, True))  # (shared, bottleneck)


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
        for label in a.study.phase2_stage_sets
        for config, result in a.study.phase2(label)
        if (config.se_reduction, config.inter_shared, config.merge_bottleneck)
        == (r, shared, bottleneck)
        and (stats := a.stats(result)) is not None
    ]
    return contrast([(s, 1 / len(cells)) for s in cells], a.noise) if cells else None
