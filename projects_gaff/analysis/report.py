"""``report.md`` and its PNGs, section by section. Every sentence carries the number it rests
on, and every comparison says whether it is larger than the seed noise. A figure with no
data yet is not drawn (an old copy of it is removed) and the report says so, so a partial
study gives a complete, honest report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from statistics import fmean

import matplotlib
from matplotlib.figure import Figure

from ..atomic import atomic_write_text
from ..markdown import markdown_table
from ..run_files import METRICS_PER_EPOCH
from ..study.plan import PHASE2_GRID, STAGE_SETS, GaffConfig
from ..study.ranking import Ranked, top_k
from . import plots
from .findings import (
    Analysis,
    Conclusions,
    Expectation,
    Finding,
    Versus,
    cheapest,
    conclude,
    level,
    tied_with_best,
)
from .model import METHOD_NAMES, Configuration
from .stats import (
    EARLIER_SPREAD,
    FACTOR_VALUES,
    SPREAD_SOURCE,
    Estimate,
    Noise,
    Pair,
    difference,
    group_difference,
    interaction,
    seed_noise,
    seed_stats,
    train_val_gap,
)
from .tables import (
    COST_ROWS,
    TABLE_COSTS,
    bullets,
    cost_cells,
    count,
    effect,
    image,
    judged,
    mean_std,
    noise_flag,
    number,
)

REPORT_NAME = "report.md"
Figures = Mapping[str, Path | None]
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

_HYPOTHESIS_COLUMNS = (
    "", "Hypothesis", "Prediction", "Effect", "2 SE", "Pairs (> 0)", "Beyond noise", "Verdict",
)  # fmt: skip
SAME_FAMILY = 'README.md, "The model"'  # where is0 and is1 are shown to be one function family
EQUIVALENCE_NOTE = (
    "is0 (two 2C→C convs) and is1 (one 2C→2C conv split in two) compute the same family of "
    f"functions from the same initial distribution ({SAME_FAMILY}; a test copies one "
    "into the other and gets identical outputs), so the true is0 − is1 effect is zero and any "
    "gap measured here is noise. With the same seed the two modes even start from identical "
    "weights (the shared conv draws the same numbers, in the same order, as the two separate "
    "ones) and see the same data order, so a same-seed pair can differ *less* than two seeds "
    "do. Either way the pairs are no evidence for or against asymmetric attention; a truly "
    "symmetric gate is `MODEL.GAFF.INTER_MODE tied`."
)
_REFERENCES = {  # method → (its name, its section's title)
    "none": ("no-fusion baseline", "GAFF vs baseline (no fusion)"),
    "rgb": ("RGB-only", "GAFF vs RGB only"),
    "cssa": ("CSSA", "GAFF vs CSSA"),
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


def _near_best(r: Ranked) -> str:
    return " (≈ #1)" if r.within_noise_of_best and r.rank > 1 else ""


def rank_text(ranked: Ranked | None) -> str:
    """``2``, or ``2 (≈ #1)`` when inside the seed noise of the best."""
    return "—" if ranked is None else f"{ranked.rank}{_near_best(ranked)}"


# ---- phase 1 ---------------------------------------------------------------------------


def phase1_section(a: Analysis, c: Conclusions, figures: Figures) -> str:
    sel, split = a.study.selection_split, a.split
    miss_rates = image(figures["phase1_miss_rate"], f"Phase 1: {split} miss rates per stage set")
    parts = [
        "## Phase 1: stage selection",
        f"Hyper-parameters r4 / is0 / mb0. mAP columns: {split} split, mean ± seed std. "
        f"Rank: by {sel} {a.metric}; *≈ #1*: within the seed noise of #1. Val − train loss: total "
        "losses at the last epoch (overfitting).",
        _phase1_table(a),
        image(figures["phase1_ap"], f"Phase 1: {split} AP per stage set"),
        image(figures["phase1_ap50_ap75"], f"Phase 1: {split} AP50 and AP75 per stage set"),
        image(figures["phase1_sizes"], f"Phase 1: {split} AP per object size"),
        *([miss_rates] if a.study.miss_rates else []),
        image(figures["phase1_cost"], "Phase 1: AP vs GAFF parameter overhead and training time"),
        "### Phase-1 findings",
        bullets(_phase1_findings(a, c)),
    ]
    return "\n\n".join(parts)


def _phase1_table(a: Analysis) -> str:
    sel = a.study.selection_split
    miss_rates = a.study.miss_rates  # columns only when the runs evaluated them
    header = ["Stage config", "Seeds", "mAP", "mAP@50", "mAP@75", *miss_rates, "Params (M)"]
    header += ["GAFF overhead", "GFLOPs", "Time (h)"]
    header += [f"{sel} {a.metric}"] if sel != a.split else []
    header += [f"Rank ({sel})", "Best epoch", "Val − train loss"]
    rows = []
    for config, result in a.study.phase1():
        label = f"{list(config.stages)} {config.stage_label}"
        if result is None:
            rows.append([label, 0, "not finished", *["—"] * (len(header) - 3)])
            continue
        row = [label, len(result.runs)]
        row += [mean_std(a.stats(result, key)) for key in ("AP", "AP50", "AP75", *miss_rates)]
        row += cost_cells(result)
        row += [mean_std(a.selected(result))] if sel != a.split else []
        row += [rank_text(a.rank_of(result, a.phase1_ranking)), _best_epochs(result)]
        row += [mean_std(seed_stats(result, train_val_gap), 3)]
        rows.append(row)
    return markdown_table(header, rows)


def _best_epochs(config: Configuration) -> str:
    epochs = sorted({r.best_epoch for r in config.runs if r.best_epoch is not None})
    if not epochs:
        return "—"
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"


def _phase1_findings(a: Analysis, c: Conclusions) -> list[str]:
    ranking = a.phase1_ranking
    if not ranking:
        return ["No phase-1 configuration has finished yet."]
    return [
        _ranking_line(a),
        *(_expectation_line(a.study.selection_split, e) for e in c.expectations),
        *_size_lines(a),
        _stage_cost_line(a),
        _training_line(a),
    ]


def _ranking_line(a: Analysis) -> str:
    sel, ranking = a.study.selection_split, a.phase1_ranking
    ranked = ", ".join(
        f"#{r.rank} {a.config(r.key).gaff.stage_label} {r.stats.mean:.2f}{_near_best(r)}"
        for r in ranking
    )
    finished = f"{len(ranking)} of {len(STAGE_SETS)} stage sets finished"
    line = f"Ranking on {sel} {a.metric} ({finished}): {ranked}."
    chosen = a.study.phase2_stage_sets
    if chosen:
        line += f" Phase 2 took {', '.join(chosen)}."
        _, warning = top_k(ranking, len(chosen), a.selection_noise.sigma)
        if warning and len(ranking) == len(STAGE_SETS):
            line += f" Caution: {warning}."
    return line


def _expectation_line(sel: str, e: Expectation) -> str:
    """A stage-set expectation against the ranking, with the gaps when it was not met."""
    label = e.found.gaff.stage_label
    text = f"{e.place} on {sel}: {label} ({sel} {e.score:.2f})"
    if e.met:
        return f"{text}, as the guide expected."
    gaps = "; ".join(f"{other} − {label} = {judged(gap)}" for other, gap in e.gaps)
    guess = " or ".join(e.expected)
    return f"{text}; the guide expected {guess}" + (f": {gaps}." if gaps else " (not finished).")


def _size_lines(a: Analysis) -> list[str]:
    """Do early stages (1, 2) help small objects, late ones (3, 4) large objects?
    Single-stage fusion at 1 and 2 against 3 and 4, on the reported split."""
    lines = []
    for key, size in (("APs", "Small"), ("APl", "Large")):
        measure = a.measure(key)
        early, late = (
            [s for n in stages if (s := seed_stats(a.study.grid.get(GaffConfig((n,))), measure))]
            for stages in ((1, 2), (3, 4))
        )
        if not early or not late:
            lines.append(
                f"{size} objects ({key}): not measurable (needs s1 or s2 and s3 or s4 with {key} "
                "values)."
            )
            continue
        estimate = group_difference(early, late, seed_noise(a.study.grid.values(), measure))
        lines.append(
            f"{size} objects ({a.split} {key}): early single stages (s1, s2) "
            f"{fmean(s.mean for s in early):.2f} vs late (s3, s4) "
            f"{fmean(s.mean for s in late):.2f}: early − late = {judged(estimate)}."
        )
    return lines


def _stage_cost_line(a: Analysis) -> str:
    """Is all-stage fusion worth its parameters; the best accuracy/cost trade-off."""
    best = a.config(a.phase1_ranking[0].key)
    cheapest_tied = cheapest([best, *tied_with_best(a, a.phase1_ranking)])
    line = ""
    all_stages = a.study.grid.get(GaffConfig((1, 2, 3, 4)))
    if all_stages is not None and all_stages is not best:
        diff = difference(a.stats(all_stages), a.stats(best), a.noise)
        line = (
            f"All-stage fusion s1234{_gaff_params(all_stages)} vs #1 "
            f"{best.gaff.stage_label}{_gaff_params(best)}: {a.split} {a.metric} "
            f"{judged(diff, unit='')}. "
        )
    if a.selection_noise.known:
        return line + (
            f"Cheapest stage set within the seed noise of #1: {cheapest_tied.gaff.stage_label}"
            f"{_gaff_params(cheapest_tied)}."
        )
    return line + "The cheapest set tied with #1 cannot be named without seed noise."


def _gaff_params(config: Configuration) -> str:
    params = config.parameter("gaff_total")
    return "" if params is None else f" ({count(params)} GAFF parameters)"


def _training_line(a: Analysis) -> str:
    """Convergence (best epoch) and overfitting (val − train loss at the end)."""
    configs = a.study.phase1_configurations()
    epochs = {
        c.gaff.stage_label: fmean(e)
        for c in configs
        if (e := [r.best_epoch for r in c.runs if r.best_epoch is not None])
    }
    gaps = {c.gaff.stage_label: s for c in configs if (s := seed_stats(c, train_val_gap))}
    parts = []
    if epochs:
        first, last = min(epochs, key=epochs.get), max(epochs, key=epochs.get)
        parts.append(
            f"Best epoch (mean over seeds): earliest {first} ({epochs[first]:.1f}), "
            f"latest {last} ({epochs[last]:.1f})."
        )
    if gaps:
        multi = [s for label, s in gaps.items() if len(label) > 2]
        single = [s for label, s in gaps.items() if len(label) == 2]
        high = max(gaps, key=lambda k: gaps[k].mean)
        parts.append(f"Largest val − train loss gap: {high} ({gaps[high].mean:.3f}).")
        if multi and single:
            estimate = group_difference(multi, single, a.gap_noise)
            parts.append(f"Multi-stage − single-stage gap: {judged(estimate, False, '', 3)}.")
    return " ".join(parts) or "No per-epoch metrics in the results (convergence not measurable)."


# ---- phase 2 ---------------------------------------------------------------------------


def phase2_section(a: Analysis, figures: Figures) -> str:
    title = "## Phase 2: hyper-parameter tuning"
    if not a.study.phase2_stage_sets:
        return f"{title}\n\nPhase 2 has not run yet: no phase-2 stage set selected."
    parts = [
        title,
        f"Δ vs default: {a.split} {a.metric} minus that of the stage set's r4 / is0 / mb0 run "
        "(2 SE: twice the standard error from the seed noise). Rank: among all phase-2 rows, on "
        f"{a.study.selection_split} {a.metric}.",
        _sensitivity_table(a),
        image(
            figures["phase2_heatmap"],
            f"Phase 2: {a.split} {a.metric} over the grid; the red box marks each set's best "
            f"cell on {a.study.selection_split} {a.metric}, the selection rule",
        ),
        image(figures["phase2_main_effects"], "Phase 2: paired effect of each factor"),
        image(figures["phase2_interaction"], "Phase 2: r × inter-shared × merge"),
        "### Interactions",
        bullets(_interaction_lines(a)),
    ]
    return "\n\n".join(parts)


def _sensitivity_table(a: Analysis) -> str:
    header = ["Config", "SE_r", "Inter_Shared", "Merge_BN", "mAP", "Δ vs default"]
    header += ["Beyond noise", "GAFF params", f"Rank ({a.study.selection_split})"]
    rows = []
    for i, label in enumerate(a.study.phase2_stage_sets):
        cells = a.study.phase2(label)
        default = a.stats(cells[0][1])
        for config, result in cells:
            stats = a.stats(result)
            delta = difference(stats, default, a.noise)
            rows.append(
                [
                    f"Top #{i + 1} {label}",
                    config.se_reduction,
                    config.inter_shared,
                    config.merge_bottleneck,
                    mean_std(stats) if result else "not finished",
                    *(
                        ("default", "")
                        if config == cells[0][0]
                        else (effect(delta), noise_flag(delta))
                    ),
                    count(result and result.parameter("gaff_total")),
                    rank_text(a.rank_of(result, a.phase2_ranking)),
                ]
            )
    return markdown_table(header, rows)


def _interaction_lines(a: Analysis) -> list[str]:
    grid = a.study.phase2_configurations()
    lines = []
    for f, g in (
        ("se_reduction", "merge_bottleneck"),
        ("se_reduction", "inter_shared"),
        ("inter_shared", "merge_bottleneck"),
    ):
        result = interaction(grid, (f, g), a.measure(), a.noise)
        f0, f1 = (level(f, v) for v in FACTOR_VALUES[f])
        g0, g1 = (level(g, v) for v in FACTOR_VALUES[g])
        lines.append(
            f"{f0}→{f1} effect with {g1} minus with {g0} ({result.squares} complete 2 × 2 "
            f"squares): {judged(result.estimate)}."
        )
    lines.append(
        "Whether r8 + bottleneck compensates for the compression is the first line (positive: "
        "the bottleneck helps r8 more than r4)."
    )
    return lines


# ---- hypotheses ------------------------------------------------------------------------


def hypotheses_section(a: Analysis) -> str:
    parts = [
        "## Hypotheses H1–H4",
        "Each effect is the mean over all *pairs* of configurations that differ only in that "
        "factor (same stage set, same other two hyper-parameters) of favoured − other, so a "
        f"positive value supports the hypothesis. H1–H3 use {a.split} {a.metric}; H4 the "
        "val − train total loss at the last epoch. *Beyond noise*: |effect| > 2 SE, the "
        "standard error of the mean pair difference from the pooled seed noise.",
        markdown_table(_HYPOTHESIS_COLUMNS, [_hypothesis_row(f, a.metric) for f in a.findings]),
        *(_hypothesis_text(a, finding) for finding in a.findings),
    ]
    return "\n\n".join(parts)


def _hypothesis_row(f: Finding, metric: str) -> list:
    h, estimate = f.hypothesis, f.effect.estimate
    digits = 3 if h.on_gap else 2
    value, threshold = (None, None) if estimate is None else (estimate.value, estimate.threshold)
    return [
        h.code,
        h.claim,
        h.predicts(metric),
        number(value, digits, sign=True),
        number(threshold, digits),
        f"{len(f.effect.pairs)} ({f.effect.agreeing})",
        noise_flag(estimate),
        f.verdict,
    ]


def _hypothesis_text(a: Analysis, f: Finding) -> str:
    h, estimate = f.hypothesis, f.effect.estimate
    title = f"### {h.code}: {h.claim} ({h.predicts(a.metric)})"
    if estimate is None:
        measure = f"per-epoch losses ({METRICS_PER_EPOCH})" if h.on_gap else f"{a.split} {a.metric}"
        return (
            f"{title}\n\nNot testable yet: no two finished configurations that differ only "
            f"in {h.factor} both have {measure} (phase 2 provides these pairs)."
        )
    digits = 3 if h.on_gap else 2
    pairs = "; ".join(_pair_text(f, p, digits) for p in f.effect.pairs)
    text = (
        f"{title}\n\n**{f.verdict}**: {f.contrast} = "
        f"{judged(estimate, not h.on_gap, '' if h.on_gap else f' {a.metric}', digits)}; "
        f"{f.effect.agreeing} of "
        f"{len(f.effect.pairs)} pairs are positive.\n\nPairs ({f.contrast}): {pairs}."
    )
    if h.factor == "inter_shared":
        sigma = f"against a pooled seed σ of {a.noise.sigma:.2f}" if a.noise.known else ""
        text += f"\n\n*Note.* {EQUIVALENCE_NOTE} Here |{f.contrast}| = {abs(estimate.value):.2f}"
        text += f" {sigma or 'with the seed noise unknown'}."
    if h.on_gap:
        text += (
            "\n\nThe gap is the validation minus the training total loss at the last epoch "
            f"with both ({METRICS_PER_EPOCH}); a smaller gap means less overfitting."
        )
    return text


def _pair_text(f: Finding, pair: Pair, digits: int) -> str:
    """``s4 is0 mb0 -1.00``: the pair's common configuration and its difference."""
    config, factor = pair.favoured.gaff, f.hypothesis.factor
    common = [p for p in config.code.split("_") if p != level(factor, getattr(config, factor))]
    return f"{' '.join(common)} {pair.diff:+.{digits}f}"


# ---- comparisons: GAFF against the baseline, RGB only, CSSA and the other methods -----


def comparison_section(a: Analysis, c: Conclusions) -> str:
    best = c.best
    parts = ['## GAFF vs baseline, RGB only and CSSA (README.md, "Comparison studies")']
    if best is None:
        return parts[0] + "\n\nNo GAFF configuration has finished yet."
    parts.append(
        f"Best GAFF = the study's #1 on {a.study.selection_split} {a.metric}, `{best.key}`. "
        "Δ = GAFF − reference; *winner* on AP only when the difference is beyond the seed noise."
    )
    for method, (name, title) in _REFERENCES.items():
        v = c.versus[method]
        if v.reference is None:
            parts.append(
                f"### {title}\n\nNot run: no {name} run with the study's "
                f"settings found. Run {v.command} with this study's `--output-base`, "
                "or pass a run folder trained with the same settings with `--extra`."
            )
        else:
            parts.append(f"### {title}\n\n{_comparison_table(a, v.reference, best)}")
    if a.study.extras:
        parts.append("### All fusion methods\n\n" + _methods_table(a, best))
    return "\n\n".join(parts)


def _comparison_table(a: Analysis, ref: Configuration, best: Configuration) -> str:
    name = f"{METHOD_NAMES[ref.method]} ({ref.label})"
    rows = []
    for key, label in (("AP", "mAP"), ("AP50", "mAP@50"), ("AP75", "mAP@75")):
        noise = seed_noise(a.study.grid.values(), a.measure(key))
        ours, theirs = a.stats(best, key), a.stats(ref, key)
        diff = difference(ours, theirs, noise)
        rows.append([label, mean_std(theirs), mean_std(ours), effect(diff), _winner(diff, name)])
    for row in COST_ROWS:
        theirs, ours = row.value(ref), row.value(best)
        if None in (theirs, ours) or theirs == ours:
            winner = "—"
        else:
            winner = "GAFF" if (ours < theirs) == row.lower_is_better else name
        rows.append([row.label, row.cell(ref), row.cell(best), relative(theirs, ours), winner])
    header = ["Metric", name, f"Best GAFF {best.key}", "Δ GAFF − ref (2 SE)", "Winner"]
    return markdown_table(header, rows)


def _winner(diff: Estimate | None, reference: str) -> str:
    """Who has the higher AP, when the difference is beyond the seed noise."""
    if diff is None:
        return "—"
    return {
        "unknown": "unknown (noise unknown)",
        "within noise": "tie (within noise)",
        "positive": "GAFF",
        "negative": reference,
    }[diff.outcome]


def relative(theirs: float | None, ours: float | None) -> str:
    """Relative change of a cost (``+7.1 %``); ``—`` when either is unknown."""
    if theirs is None or ours is None:
        return "—"
    if theirs == 0:
        return f"+{count(ours)}" if ours else "0"
    return f"{100 * (ours - theirs) / theirs:+.1f} %"


def _methods_table(a: Analysis, best: Configuration) -> str:
    header = ["Method", "Run", "Seeds", f"{a.split} {a.metric}"]
    header += [f"{a.study.selection_split} {a.metric}", *(r.label for r in TABLE_COSTS), "Settings"]
    rows = [
        [
            METHOD_NAMES[c.method],
            c.label,
            len(c.runs),
            mean_std(a.stats(c)),
            mean_std(a.selected(c)),
            *cost_cells(c),
            c.differs or "the study's",
        ]
        for c in [best, *a.study.extras]
    ]
    return markdown_table(header, rows)


# ---- recommendation --------------------------------------------------------------------


def recommendation_section(a: Analysis, c: Conclusions) -> str:
    best = c.best
    title = "## Recommendation"
    if best is None:
        return f"{title}\n\nNothing to recommend: no configuration has finished."
    sel = a.study.selection_split
    first = a.overall_ranking[0]
    best_line = (
        f"**Best configuration**: `{best.key}`, #1 of {len(a.overall_ranking)} on {sel} {a.metric} "
        f"({mean_std(first.stats)}, {len(best.runs)} seed(s))"
    )
    if sel != a.split:
        best_line += f"; {a.split} {a.metric} {mean_std(a.stats(best))}"
    lines = [
        best_line + ".",
        _ties_line(a, c),
        _cost_line(best, c.versus["none"].reference),
        *_gain_lines(a, [c.versus["none"], c.versus["cssa"]]),
        _sharing_line(a),
        "Next: measure the seed noise (`tools/ablate.py --seeds 3`, at least for the top "
        "configurations); until then no ranking above is supported by the data."
        if not a.selection_noise.known
        else "",
        f"Next: {len(a.study.missing)} planned run(s) are not finished (see Status); "
        "the numbers above may change."
        if a.study.missing
        else "",
    ]
    return f"{title}\n\n{bullets(filter(None, lines))}"


def _ties_line(a: Analysis, c: Conclusions) -> str:
    ranking, sel = a.overall_ranking, a.study.selection_split
    if len(ranking) < 2:
        return ""
    second = ranking[1]
    worse = "higher" if a.lower_is_better else "lower"
    gap = f"#2 `{second.key}` is {second.gap_to_best:.2f} {worse} on {sel} {a.metric}"
    if not a.selection_noise.known:
        low, high = EARLIER_SPREAD
        spread = high - low
        return (
            f"{gap}; with one seed per configuration that gap cannot be told from seed noise "
            f"(the earlier study's whole one-seed spread was {spread:.1f} points, "
            f"{SPREAD_SOURCE})."
        )
    if not c.tied:
        return f"{gap}, beyond the seed noise: the best configuration is clearly ahead."
    cheapest, best = c.cheapest, c.best
    text = (
        f"{len(c.tied)} other configuration(s) are within the seed noise of #1 on {sel} {a.metric} "
        f"(pooled σ {a.selection_noise.sigma:.2f}); {gap}."
    )
    if cheapest is not best:
        text += (
            f" The cheapest of them, `{cheapest.key}` ({count(cheapest.parameter('gaff_total'))}"
            f" GAFF parameters vs {count(best.parameter('gaff_total'))}, {a.split} {a.metric} "
            f"{mean_std(a.stats(cheapest))}), is the choice when cost matters."
        )
    return text


def _cost_line(best: Configuration, baseline: Configuration | None) -> str:
    total, gaff, gflops, hours = (row.value(best) for row in COST_ROWS[:4])
    share = f" ({100 * gaff / total:.2f} % of {total / 1e6:.2f}M)" if total and gaff else ""
    known = [
        f"{count(gaff)} GAFF parameters{share}" if gaff is not None else "",
        f"{number(gflops, 1)} GFLOPs" if gflops is not None else "",
        f"{number(hours)} h training" if hours is not None else "",
    ]
    if not any(known):
        return "Cost: not in the results (no parameter counts, GFLOPs or times)."
    text = "Cost: " + ", ".join(k for k in known if k)
    if baseline is not None:
        base_gflops, base_hours = (row.value(baseline) for row in COST_ROWS[2:4])
        text += (
            f"; against the no-fusion baseline's {number(base_gflops, 1)} GFLOPs and "
            f"{number(base_hours)} h that is {relative(base_gflops, gflops)} GFLOPs and "
            f"{relative(base_hours, hours)} time"
        )
    return text + "."


def _gain_lines(a: Analysis, gains: list[Versus]) -> list[str]:
    lines = []
    for v in gains:
        reference = _REFERENCES[v.method][0]
        name = "the no-fusion baseline" if v.method == "none" else reference
        if v.reference is None:
            lines.append(f"Gain vs {name}: unknown ({reference} not run).")
            continue
        lines.append(
            f"Expected gain vs {name} (`{v.reference.label}`, {a.split} {a.metric} "
            f"{mean_std(a.stats(v.reference))}): {judged(v.gain)}."
        )
    return lines


def _sharing_line(a: Analysis) -> str:
    h2 = next(f for f in a.findings if f.hypothesis.factor == "inter_shared")
    if h2.effect.estimate is None:
        return (
            "Inter-modality sharing: is0 and is1 are the same function family "
            f"({SAME_FAMILY}); choose either."
        )
    return (
        f"Inter-modality sharing: the measured is0 − is1 = {h2.effect.estimate.value:+.2f} is "
        f"noise by construction (same function family, {SAME_FAMILY}): choose either."
    )
