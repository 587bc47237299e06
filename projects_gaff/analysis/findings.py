"""What the study says, as values computed before any sentence is written (so tests check
them without parsing text): seed noise, rankings, the hypotheses H1–H4, the stage-set
expectations and the best GAFF configuration against each reference (baseline, RGB, CSSA).
Rankings use the *selection* split (val when there is one: the test split never chooses a
model); tables, effects and verdicts the *reported* one, with its own seed noise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..run_files import lower_is_better
from ..study.comparison import FUSION, MODALITY, Comparison, Method
from ..study.ranking import Ranked, SeedStats
from .model import Configuration, StudyData
from .stats import (
    Estimate,
    Measure,
    Noise,
    PairedEffect,
    ap,
    difference,
    other_level,
    paired_effect,
    ranking,
    seed_noise,
    seed_stats,
    train_val_gap,
)


@dataclass(frozen=True)
class Hypothesis:
    code: str
    claim: str
    prediction: str  # on AP; :meth:`predicts` words it for another metric
    factor: str
    favoured: object
    on_gap: bool = False  # H4: judged on the train–val loss gap (lower is better)

    def predicts(self, metric: str) -> str:
        """``r4 > r8 in AP``; for a miss rate ``r4 < r8 in MR_reasonable_all``."""
        if self.on_gap or metric == "AP":
            return self.prediction
        relation = "<" if lower_is_better(metric) else ">"
        return self.prediction.replace(" > ", f" {relation} ").replace(" in AP", f" in {metric}")

    @property
    def contrast(self) -> str:
        """What a positive effect means, e.g. ``r4 − r8`` or ``gap r4 − gap r8``."""
        favoured = level(self.factor, self.favoured)
        other = level(self.factor, other_level(self.factor, self.favoured))
        return f"gap {other} − gap {favoured}" if self.on_gap else f"{favoured} − {other}"


def level(factor: str, value: object) -> str:
    """``r8``, ``is1``, ``mb0``: a factor level in the guide's naming."""
    prefix = {"se_reduction": "r", "inter_shared": "is", "merge_bottleneck": "mb"}[factor]
    return f"{prefix}{int(value)}"


HYPOTHESES = (
    Hypothesis("H1", "Lower SE reduction improves accuracy", "r4 > r8 in AP", "se_reduction", 4),
    Hypothesis("H2", "Asymmetric cross-attention helps", "is0 > is1 in AP", "inter_shared", False),
    Hypothesis(
        "H3", "Bottleneck merge adds expressiveness", "mb1 > mb0 in AP", "merge_bottleneck", True
    ),
    Hypothesis(
        "H4",
        "Higher reduction reduces overfitting",
        "r8 has the smaller val − train loss gap",
        "se_reduction",
        8,
        on_gap=True,
    ),
)


@dataclass(frozen=True)
class Finding:
    hypothesis: Hypothesis
    effect: PairedEffect
    noise: Noise
    metric: str = "AP"  # what H1–H3 were judged on (H4: the loss gap)

    @property
    def contrast(self) -> str:
        """What a positive effect means: ``r4 − r8``; for a miss rate ``MR r8 − MR r4``."""
        h = self.hypothesis
        if h.on_gap or not lower_is_better(self.metric):
            return h.contrast
        other = other_level(h.factor, h.favoured)
        return f"MR {level(h.factor, other)} − MR {level(h.factor, h.favoured)}"

    @property
    def verdict(self) -> str:
        """``supported`` / ``contradicted`` (beyond the seed noise), ``not shown`` (inside
        it), ``undecided`` (noise unknown) or ``not testable`` (no pair was trained)."""
        estimate = self.effect.estimate
        if estimate is None:
            return "not testable"
        return {
            "unknown": "undecided",
            "within noise": "not shown",
            "positive": "supported",
            "negative": "contradicted",
        }[estimate.outcome]


@dataclass(frozen=True)
class Analysis:
    """``metric`` is the study's selection metric (``TEST.SELECT_METRIC``, AP unless the
    study chose a miss rate): it ranks, picks the best and is judged by H1–H3."""

    study: StudyData
    split: str
    noise: Noise  # the metric on ``split``
    selection_noise: Noise  # the metric on the selection split
    gap_noise: Noise
    phase1_ranking: tuple[Ranked, ...]
    phase2_ranking: tuple[Ranked, ...]
    overall_ranking: tuple[Ranked, ...]
    findings: tuple[Finding, ...]

    @property
    def metric(self) -> str:
        return self.study.select_metric

    @property
    def lower_is_better(self) -> bool:
        return lower_is_better(self.metric)

    def measure(self, key: str | None = None) -> Measure:
        return ap(self.split, key or self.metric)

    def stats(self, config: Configuration | None, key: str | None = None) -> SeedStats | None:
        return seed_stats(config, self.measure(key))

    def config(self, key: str) -> Configuration:
        return next(c for c in self.configurations if c.key == key)

    @property
    def configurations(self) -> list[Configuration]:
        return [*self.study.grid.values(), *self.study.extras]

    @property
    def best(self) -> Configuration | None:
        """The study's best configuration on the selection split."""
        return self.config(self.overall_ranking[0].key) if self.overall_ranking else None

    def selected(self, config: Configuration | None) -> SeedStats | None:
        """The selection metric on the selection split (what ranks)."""
        return seed_stats(config, ap(self.study.selection_split, self.metric))

    def rank_of(self, config: Configuration | None, ranks: Sequence[Ranked]) -> Ranked | None:
        return next((r for r in ranks if config and r.key == config.key), None)

    def reference(self, method: str) -> Configuration | None:
        """The best run (on the selection split) of a baseline or other method trained with
        the study's settings, if any."""
        candidates = self.study.references(method)
        selection = ap(self.study.selection_split, self.metric)
        ranks = ranking(candidates, selection, self.selection_noise, self.lower_is_better)
        return self.config(ranks[0].key) if ranks else None


def analyse(study: StudyData, split: str = "test") -> Analysis:
    if split not in study.splits:
        raise ValueError(f"the results have no {split} AP (splits found: {study.splits})")
    grid = list(study.grid.values())
    metric, lower = study.select_metric, lower_is_better(study.select_metric)
    noise = seed_noise(grid, ap(split, metric))
    selection = ap(study.selection_split, metric)
    selection_noise = seed_noise(grid, selection)
    gap_noise = seed_noise(grid, train_val_gap)

    def ranked(configs) -> tuple[Ranked, ...]:
        return tuple(ranking(configs, selection, selection_noise, lower))

    def finding(h: Hypothesis) -> Finding:
        measure, n = (train_val_gap, gap_noise) if h.on_gap else (ap(split, metric), noise)
        higher = not (h.on_gap or lower)
        return Finding(h, paired_effect(grid, h.factor, h.favoured, measure, n, higher), n, metric)

    return Analysis(
        study=study,
        split=split,
        noise=noise,
        selection_noise=selection_noise,
        gap_noise=gap_noise,
        phase1_ranking=ranked(study.phase1_configurations()),
        phase2_ranking=ranked(study.phase2_configurations()),
        overall_ranking=ranked(grid),
        findings=tuple(map(finding, HYPOTHESES)),
    )


# ---- conclusions ----


# The stage-set expectations: a place in the phase-1 ranking (of stage labels, best
# first), who holds it, and the stage sets expected there.
EXPECTED_STAGE_SETS: tuple[tuple[str, Callable[[list[str]], list[str]], tuple[str, ...]], ...] = (
    ("Best single stage", lambda ranked: [x for x in ranked if len(x) == 2][:1], ("s3",)),
    ("Best multi-stage set", lambda ranked: [x for x in ranked if len(x) > 2][:1], ("s34", "s234")),
    ("Worst stage set", lambda ranked: ranked[-1:], ("s1",)),
)
# Which comparison study trains each reference, and which of its methods are that reference.
_REFERENCE_RUNS: dict[str, tuple[Comparison, Callable[[Method], bool]]] = {
    "none": (FUSION, lambda m: m.name == "none"),
    "rgb": (MODALITY, lambda m: m.name == "rgb"),
    "cssa": (FUSION, lambda m: dict(m.options).get("MODEL.FUSION.TYPE") == "cssa"),
}


@dataclass(frozen=True)
class Expectation:
    """One stage-set expectation against the ranking on the selection split: ``found`` holds
    that place with ``score``; ``gaps`` are each finished expected set minus ``found``."""

    place: str
    found: Configuration
    score: float
    expected: tuple[str, ...]
    gaps: tuple[tuple[str, Estimate | None], ...]

    @property
    def met(self) -> bool:
        return self.found.gaff.stage_label in self.expected


@dataclass(frozen=True)
class Versus:
    """The best GAFF configuration against a reference method (``none``, ``rgb``, ``cssa``);
    without a reference run, ``command`` is what trains one."""

    method: str
    reference: Configuration | None
    gain: Estimate | None  # best − reference, the study's metric on the reported split
    command: str


@dataclass(frozen=True)
class Conclusions:
    verdicts: dict[str, str]  # hypothesis code → verdict
    expectations: tuple[Expectation, ...]
    best: Configuration | None  # #1 of the whole study on the selection split
    tied: tuple[Configuration, ...]  # the others within its seed noise
    cheapest: Configuration | None  # fewest GAFF parameters of the best and the tied
    versus: dict[str, Versus]


def how_to_run(reference: str) -> str:
    """The ``tools/ablate.py`` command that trains a reference run, from the study plan."""
    comparison, wanted = _REFERENCE_RUNS[reference]
    plan = [e for e in comparison.plan() if wanted(e.config.method)]
    files = ", ".join(f"{comparison.config_dir}/{e.config.method.name}.yaml" for e in plan)
    only = ",".join(e.exp_id for e in plan)
    return f"`tools/ablate.py --study {comparison.name} --only {only}` ({files})"


def tied_with_best(a: Analysis, ranking: Sequence[Ranked]) -> list[Configuration]:
    """The configurations within the seed noise of #1 (#1 excluded)."""
    return [a.config(r.key) for r in ranking[1:] if r.within_noise_of_best]


def cheapest(configs: Sequence[Configuration]) -> Configuration:
    return min(configs, key=lambda c: c.parameter("gaff_total") or 0)


def expectations(a: Analysis) -> list[Expectation]:
    by_label = {a.config(r.key).gaff.stage_label: a.config(r.key) for r in a.phase1_ranking}
    if len(by_label) < 2:
        return []
    result = []
    for place, holder, expected in EXPECTED_STAGE_SETS:
        for label in holder(list(by_label)):
            ours = a.selected(by_label[label])
            gaps = tuple(
                (e, difference(a.selected(by_label[e]), ours, a.selection_noise))
                for e in expected
                if e in by_label and e != label
            )
            result.append(Expectation(place, by_label[label], ours.mean, expected, gaps))
    return result


def versus(a: Analysis, method: str) -> Versus:
    reference = a.reference(method)
    gain = difference(a.stats(a.best), a.stats(reference), a.noise)  # None without either
    return Versus(method, reference, gain, how_to_run(method))


def conclude(a: Analysis) -> Conclusions:
    best = a.best
    tied = tuple(tied_with_best(a, a.overall_ranking)) if a.selection_noise.known else ()
    return Conclusions(
        verdicts={f.hypothesis.code: f.verdict for f in a.findings},
        expectations=tuple(expectations(a)),
        best=best,
        tied=tied,
        cheapest=cheapest([best, *tied]) if best is not None else None,
        versus={m: versus(a, m) for m in _REFERENCE_RUNS},
    )
