"""Report sections that judge: the hypotheses H1–H4, GAFF against the baseline, RGB only
and CSSA, and the recommendation. Every sentence carries the number it rests on, and every
comparison says whether it is larger than the seed noise."""

from __future__ import annotations

from ..markdown import markdown_table
from ..run_files import METRICS_PER_EPOCH
from .conclusions import Conclusions, Versus
from .findings import Analysis, Finding, level
from .model import METHOD_NAMES, Configuration
from .stats import SPREAD_SOURCE, Estimate, Pair, ap, difference, seed_noise
from .tables import (
    COST_ROWS,
    cost_cells,
    count,
    effect,
    judged,
    mean_std,
    noise_flag,
    number,
)

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
_REFERENCE_NAMES = {"none": "no-fusion baseline", "rgb": "RGB-only", "cssa": "CSSA"}


# ---- hypotheses ------------------------------------------------------------------------


def hypotheses_section(a: Analysis) -> str:
    parts = [
        "## Hypotheses H1–H4",
        "Each effect is the mean over all *pairs* of configurations that differ only in that "
        "factor (same stage set, same other two hyper-parameters) of favoured − other, so a "
        f"positive value supports the hypothesis. H1–H3 use {a.split} {a.metric}; H4 the val − "
        "train "
        "total loss at the last epoch. *Beyond noise*: |effect| > 2 SE, the standard error "
        "of the mean pair difference from the pooled seed noise.",
        markdown_table(
            _HYPOTHESIS_COLUMNS,
            [_hypothesis_row(f, a.metric) for f in a.findings],
        ),
    ]
    for finding in a.findings:
        parts.append(_hypothesis_text(a, finding))
    return "\n\n".join(parts)


def _hypothesis_row(f: Finding, metric: str) -> list:
    h, estimate = f.hypothesis, f.effect.estimate
    digits = 3 if h.on_gap else 2
    return [
        h.code,
        h.claim,
        h.predicts(metric),
        number(estimate.value if estimate is not None else None, digits, sign=True),
        number(estimate.threshold if estimate is not None else None, digits),
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
        text += f"\n\n*Note.* {EQUIVALENCE_NOTE} Here |{f.contrast}| = {abs(estimate.value):.2f}"
        text += (
            f" against a pooled seed σ of {a.noise.sigma:.2f}."
            if a.noise.known
            else " with the seed noise unknown."
        )
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
        "Δ = GAFF − "
        "reference; *winner* on AP only when the difference is beyond the seed noise."
    )
    for method, title in (
        ("none", "GAFF vs baseline (no fusion)"),
        ("rgb", "GAFF vs RGB only"),
        ("cssa", "GAFF vs CSSA"),
    ):
        v = c.versus[method]
        if v.reference is None:
            parts.append(
                f"### {title}\n\nNot run: no {_REFERENCE_NAMES[method]} run with the study's "
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
        noise = seed_noise(a.study.grid.values(), ap(a.split, key))
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
    header = [
        "Method",
        "Run",
        "Seeds",
        f"{a.split} {a.metric}",
        f"{a.study.selection_split} {a.metric}",
    ]
    header += ["Params (M)", "Fusion params", "GFLOPs", "Time (h)", "Settings"]
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
        *_next_steps(a),
    ]
    return title + "\n\n" + "\n".join(f"- {line}" for line in lines if line)


def _ties_line(a: Analysis, c: Conclusions) -> str:
    ranking, sel = a.overall_ranking, a.study.selection_split
    if len(ranking) < 2:
        return ""
    second = ranking[1]
    worse = "higher" if a.lower_is_better else "lower"
    gap = f"#2 `{second.key}` is {second.gap_to_best:.2f} {worse} on {sel} {a.metric}"
    if not a.selection_noise.known:
        return (
            f"{gap}; with one seed per configuration that gap cannot be told from seed noise "
            f"(the earlier study's whole one-seed spread was 2.1 points, {SPREAD_SOURCE})."
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
        name = "the no-fusion baseline" if v.method == "none" else _REFERENCE_NAMES[v.method]
        if v.reference is None:
            lines.append(f"Gain vs {name}: unknown ({_REFERENCE_NAMES[v.method]} not run).")
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


def _next_steps(a: Analysis) -> list[str]:
    steps = []
    if not a.selection_noise.known:
        steps.append(
            "Next: measure the seed noise (`tools/ablate.py --seeds 3`, at least for the top "
            "configurations); until then no ranking above is supported by the data."
        )
    if a.study.missing:
        steps.append(
            f"Next: {len(a.study.missing)} planned run(s) are not finished (see Status); "
            "the numbers above may change."
        )
    return steps
