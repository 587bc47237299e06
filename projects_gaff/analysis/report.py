"""``report.md`` and its PNGs. A figure with no data yet is not drawn (an old copy of it is
removed) and the report says so, so a partial study gives a complete, honest report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from ..atomic import atomic_write_text
from ..study.plan import PHASE2_GRID, STAGE_SETS
from . import plots
from .conclusions import conclude
from .findings import Analysis
from .report_phases import Figures, phase1_section, phase2_section
from .report_verdicts import comparison_section, hypotheses_section, recommendation_section
from .stats import EARLIER_SPREAD, SPREAD_SOURCE, Noise
from .tables import bullets, image

REPORT_NAME = "report.md"
PLOTS: dict[str, Callable[[Analysis], Figure | None]] = {
    "phase1_ap": plots.plot_phase1_ap,
    "phase1_ap50_ap75": plots.plot_phase1_ap50_ap75,
    "phase1_sizes": plots.plot_phase1_sizes,
    "phase1_cost": plots.plot_phase1_cost,
    "phase1_miss_rate": plots.plot_phase1_miss_rate,
    "phase2_heatmap": plots.plot_phase2_heatmap,
    "phase2_main_effects": plots.plot_main_effects,
    "phase2_interaction": plots.plot_interaction,
    "curves_phase1": plots.plot_curves_phase1,
    "curves_phase2": plots.plot_curves_phase2,
}


def write_report(a: Analysis, out: Path) -> Path:
    """Draw the figures into ``out`` and write ``out/report.md`` (atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: Figures = {}
    with matplotlib.rc_context(plots.RC):
        for name, plot in PLOTS.items():
            path, fig = out / f"{name}.png", plot(a)
            if fig is None:
                path.unlink(missing_ok=True)
            else:
                fig.savefig(path, dpi=plots.DPI, bbox_inches="tight", pad_inches=0.15)
            figures[name] = None if fig is None else path
    c = conclude(a)
    sections = [
        _header(a),
        _status(a),
        _noise(a),
        phase1_section(a, c, figures),
        phase2_section(a, figures),
        hypotheses_section(a),
        _curves(a, figures),
        comparison_section(a, c),
        recommendation_section(a, c),
    ]
    report = out / REPORT_NAME
    atomic_write_text(report, "\n\n".join(sections) + "\n")
    return report


def _header(a: Analysis) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sel = a.study.selection_split
    lines = [
        "# GAFF ablation study: analysis",
        f"Source: {a.study.source}. Written {stamp} by `tools/analyze.py`; what each section "
        'computes and why: README.md, "Analysis".',
        f"All APs are COCO AP on Detectron2's 0–100 scale. Tables, effects and verdicts use "
        f"the **{a.split}** split; rankings and the best configuration use the **{sel}** "
        "split" + (" (the test split never selects a model)." if sel != a.split else "."),
    ]
    if a.metric != "AP" or a.study.miss_rates:
        direction = "lower is better" if a.lower_is_better else "higher is better"
        lines.append(
            f"Selection metric (`TEST.SELECT_METRIC`): **{a.metric}** ({direction}); it ranks, "
            "picks the best configuration and judges H1–H3. Miss rates (MR_…) are log-average "
            "miss rates in %, lower is better."
        )
    if a.study.notes:
        lines.append("Notes:\n\n" + bullets(a.study.notes))
    return "\n\n".join(lines)


def _status(a: Analysis) -> str:
    study = a.study
    planned = study.planned
    seeds = sorted({len(c.runs) for c in study.grid.values()})
    extras = ", ".join(f"{c.label} ({c.method}, {len(c.runs)} seed(s))" for c in study.extras)
    lines = [
        f"Configurations finished: {sum(c in study.grid for c in planned)} of {len(planned)} "
        f"planned (phase 1: {len(STAGE_SETS)} stage sets; phase 2: "
        f"{len(study.phase2_stage_sets)} stage set(s) × {len(PHASE2_GRID)}, whose defaults are "
        "phase-1 runs).",
        f"Seeds per configuration: {', '.join(map(str, seeds)) or '0'} finished "
        f"(planned: {study.seeds}).",
        f"Other runs (baselines, other fusion methods): {extras or 'none found'}.",
    ]
    missing = "Nothing is missing: the study is complete."
    if study.missing:
        missing = "Missing (not finished or not in the source):\n\n" + bullets(study.missing)
    return f"## Status\n\n{bullets(lines)}\n\n{missing}"


def _noise(a: Analysis) -> str:
    sel = a.study.selection_split
    lines = [
        _noise_line(f"{a.split} AP", a.noise),
        _noise_line("val − train loss gap, H4", a.gap_noise, digits=3),
    ]
    if sel != a.split:
        lines.insert(1, _noise_line(f"{sel} AP", a.selection_noise) + " Used by the rankings.")
    if a.noise.known:
        sigma = a.noise.sigma
        scale = (
            f"Two configurations with n seeds each differ beyond the noise when their means"
            f" differ by more than 2σ√(2/n): {2 * sigma * 2**0.5:.2f} AP with one seed, "
            f"{2 * sigma * (2 / 3) ** 0.5:.2f} with three."
        )
    else:
        low, high = EARLIER_SPREAD
        scale = (
            "No configuration has two seeds, so no difference in this report can be "
            "checked against seed noise. For scale: the earlier implementation's whole "
            f"one-seed spread, {low}–{high} AP ({high - low:.1f} points, {SPREAD_SOURCE}), is "
            "about what seed noise alone produces. Rerun with `tools/ablate.py --seeds 3`."
        )
    return f"## Seed noise\n\n{bullets(lines)}\n\n{scale}"


def _noise_line(what: str, noise: Noise, digits: int = 2) -> str:
    if not noise.known:
        return f"σ({what}): unknown (no configuration with ≥ 2 seeds)."
    return (
        f"σ({what}) = {noise.sigma:.{digits}f}, pooled over {noise.configurations} "
        f"configurations with ≥ 2 seeds ({noise.dof} degrees of freedom)."
    )


def _curves(a: Analysis, figures: Figures) -> str:
    phase1 = plots.why_no_curves([c for _, c in a.study.phase1()])
    phase2 = plots.why_no_curves(a.study.phase2_configurations())
    return "\n\n".join(
        [
            "## Training curves",
            "Mean over seeds. The right-hand panels show the validation minus training total "
            "loss per epoch: a growing gap is overfitting (H4).",
            image(
                figures["curves_phase1"], "Phase 1: training loss, val AP, val − train loss", phase1
            ),
            image(figures["curves_phase2"], "Phase 2: one row per stage set", phase2),
        ]
    )
