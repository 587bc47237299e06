"""Report sections for phase 1 (stage-wise table, stage-selection questions) and phase 2
(hyper-parameter sensitivity, interactions)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from statistics import fmean

from ..markdown import markdown_table
from ..study.plan import GaffConfig
from ..study.ranking import Ranked, top_k
from .conclusions import Conclusions, Expectation, cheapest, tied_with_best
from .findings import Analysis, level
from .model import Configuration
from .stats import (
    FACTOR_VALUES,
    ap,
    difference,
    group_difference,
    interaction,
    seed_noise,
    seed_stats,
    train_val_gap,
)
from .tables import bullets, cost_cells, count, effect, image, judged, mean_std, noise_flag

Figures = Mapping[str, Path | None]


def _near_best(r: Ranked) -> str:
    return " (≈ #1)" if r.within_noise_of_best and r.rank > 1 else ""


def rank_text(ranked: Ranked | None) -> str:
    """``2``, or ``2 (≈ #1)`` when inside the seed noise of the best."""
    return "—" if ranked is None else f"{ranked.rank}{_near_best(ranked)}"


# ---- phase 1 ---------------------------------------------------------------------------


def phase1_section(a: Analysis, c: Conclusions, figures: Figures) -> str:
    sel, split = a.study.selection_split, a.split
    parts = [
        "## Phase 1: stage selection",
        f"Hyper-parameters r4 / is0 / mb0. mAP columns: {split} split, mean ± seed std. "
        f"Rank: by {sel} {a.metric}; *≈ #1*: within the seed noise of #1. Val − train loss: total "
        "losses at the last epoch (overfitting).",
        _phase1_table(a),
        image(figures["phase1_ap"], f"Phase 1: {split} AP per stage set"),
        image(figures["phase1_ap50_ap75"], f"Phase 1: {split} AP50 and AP75 per stage set"),
        image(figures["phase1_sizes"], f"Phase 1: {split} AP per object size"),
        *(
            [image(figures["phase1_miss_rate"], f"Phase 1: {split} miss rates per stage set")]
            if a.study.miss_rates
            else []
        ),
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
        _cost_line(a),
        _training_line(a),
    ]


def _ranking_line(a: Analysis) -> str:
    sel, ranking = a.study.selection_split, a.phase1_ranking
    ranked = ", ".join(
        f"#{r.rank} {a.config(r.key).gaff.stage_label} {r.stats.mean:.2f}{_near_best(r)}"
        for r in ranking
    )
    finished = f"{len(ranking)} of {len(a.study.phase1())} stage sets finished"
    line = f"Ranking on {sel} {a.metric} ({finished}): {ranked}."
    chosen = a.study.phase2_stage_sets
    if chosen:
        line += f" Phase 2 took {', '.join(chosen)}."
        _, warning = top_k(ranking, len(chosen), a.selection_noise.sigma)
        if warning and len(ranking) == len(a.study.phase1()):
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
        measure = ap(a.split, key)
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


def _cost_line(a: Analysis) -> str:
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
    configs = [c for _, c in a.study.phase1() if c is not None]
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
        "(2 SE: "
        "twice the standard error from the seed noise). Rank: among all phase-2 rows, on "
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
