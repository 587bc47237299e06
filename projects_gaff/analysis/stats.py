"""Seed noise, effects and rankings: every comparison in the report goes through here. An
effect is a contrast ``Σ wᵢ·meanᵢ`` of configuration means with standard error
``σ·√(Σ wᵢ²/nᵢ)`` (σ: the pooled seed noise); it *exceeds the noise* beyond 2 SE (README.md,
"Analysis"; the threshold ``tools/ablate.py`` ranks with)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ..run_files import DEFAULT_SELECT_METRIC
from ..study.ranking import Ranked, SeedStats, pooled_std, rank
from .model import Configuration, RunResult

Measure = Callable[[RunResult], "float | None"]
FACTOR_VALUES = {
    "se_reduction": (4, 8),
    "inter_shared": (False, True),
    "merge_bottleneck": (False, True),
}
# The earlier one-seed study's whole spread (phase 1 and phase 2, COCO AP
# on the 0–100 scale), which it never compared with seed noise.
EARLIER_SPREAD = (81.7, 83.8)
SPREAD_SOURCE = 'README.md, "Analysis"'


def other_level(factor: str, value: object) -> object:
    """The factor's other level (each factor of the grid has two)."""
    return next(v for v in FACTOR_VALUES[factor] if v != value)


def ap(split: str, key: str = DEFAULT_SELECT_METRIC) -> Measure:
    """One metric of one split: a COCO AP or, when evaluated, a miss rate (``MR_…``)."""
    return lambda run: run.metric(split, key)


def loss_gap(row: Mapping[str, float | None]) -> float | None:
    """Validation minus training total loss of one ``metrics_per_epoch.csv`` row
    (hypothesis H4: a larger gap means more overfitting)."""
    train, val = row.get("train_total_loss"), row.get("val_total_loss")
    return None if train is None or val is None else val - train


def train_val_gap(run: RunResult) -> float | None:
    """The loss gap at the last epoch that has both losses."""
    return next((g for row in reversed(run.epochs) if (g := loss_gap(row)) is not None), None)


def seed_stats(config: Configuration | None, measure: Measure) -> SeedStats | None:
    values = [] if config is None else [v for r in config.runs if (v := measure(r)) is not None]
    return SeedStats(tuple(values)) if values else None


@dataclass(frozen=True)
class Noise:
    """The pooled seed standard deviation of one measure (None: no configuration has two
    seeds, so the noise is unknown)."""

    sigma: float | None
    dof: int
    configurations: int

    @property
    def known(self) -> bool:
        return self.sigma is not None


def seed_noise(configs: Iterable[Configuration], measure: Measure) -> Noise:
    groups = [s for c in configs if (s := seed_stats(c, measure)) is not None and s.n > 1]
    return Noise(pooled_std(groups), sum(g.n - 1 for g in groups), len(groups))


@dataclass(frozen=True)
class Estimate:
    """An effect and its standard error from the seed noise (None when unknown)."""

    value: float
    se: float | None

    @property
    def threshold(self) -> float | None:
        return None if self.se is None else 2 * self.se

    @property
    def exceeds_noise(self) -> bool | None:
        return None if self.se is None else abs(self.value) > 2 * self.se

    @property
    def outcome(self) -> str:
        """``unknown`` (noise unknown), ``within noise``, ``positive`` or ``negative``."""
        if self.exceeds_noise is None:
            return "unknown"
        if not self.exceeds_noise:
            return "within noise"
        return "positive" if self.value > 0 else "negative"


def contrast(terms: Sequence[tuple[SeedStats, float]], noise: Noise) -> Estimate:
    """``Σ w·mean`` over (stats, weight) terms, with its standard error."""
    value = sum(w * s.mean for s, w in terms)
    if noise.sigma is None:
        return Estimate(value, None)
    return Estimate(value, noise.sigma * math.sqrt(sum(w * w / s.n for s, w in terms)))


def group_difference(first: Sequence[SeedStats], second: Sequence[SeedStats], noise: Noise):
    """The mean of the first group's means minus that of the second (which may be empty)."""
    terms = [(s, 1 / len(first)) for s in first] + [(s, -1 / len(second)) for s in second]
    return contrast(terms, noise)


def difference(a: SeedStats | None, b: SeedStats | None, noise: Noise) -> Estimate | None:
    """``mean(a) − mean(b)``; None when either has no value."""
    return None if a is None or b is None else group_difference([a], [b], noise)


@dataclass(frozen=True)
class Pair:
    """Two configurations that differ only in one factor; ``diff`` is favoured − other
    (sign-flipped when lower is better, so positive always supports the hypothesis)."""

    favoured: Configuration
    other: Configuration
    diff: float


@dataclass(frozen=True)
class PairedEffect:
    factor: str
    pairs: tuple[Pair, ...]
    estimate: Estimate | None  # None without a single complete pair

    @property
    def agreeing(self) -> int:
        return sum(p.diff > 0 for p in self.pairs)


def paired_effect(
    configs: Iterable[Configuration],
    factor: str,
    favoured: object,
    measure: Measure,
    noise: Noise,
    higher_is_better: bool = True,
) -> PairedEffect:
    """The mean difference over all pairs of grid configurations that differ only in
    ``factor`` (favoured value minus the other), e.g. r4 vs r8 at the same stage set,
    inter-sharing and merge. Each configuration is in at most one pair per factor, so the
    average is a contrast with weights ±1/P."""
    other = other_level(factor, favoured)
    by_config = {c.gaff: c for c in configs if c.gaff is not None}
    sign = 1.0 if higher_is_better else -1.0
    pairs, terms = [], []
    for config in by_config.values():
        if getattr(config.gaff, factor) != favoured:
            continue
        partner = by_config.get(replace(config.gaff, **{factor: other}))
        a, b = seed_stats(config, measure), seed_stats(partner, measure)
        if a is None or b is None:
            continue
        pairs.append(Pair(config, partner, sign * (a.mean - b.mean)))
        terms += [(a, sign), (b, -sign)]
    if not pairs:
        return PairedEffect(factor, (), None)
    weights = [(s, w / len(pairs)) for s, w in terms]
    return PairedEffect(factor, tuple(pairs), contrast(weights, noise))


def ranking(
    configs: Iterable[Configuration], measure: Measure, noise: Noise, lower_is_better: bool = False
) -> list[Ranked]:
    """Best mean first (ties keep the given order), each flagged when it is within the seed
    noise of the best (None when the noise is unknown). ``Ranked.key`` is the key."""
    scores = {c.key: s for c in configs if (s := seed_stats(c, measure)) is not None}
    return rank(scores, noise.sigma, lower_is_better)


@dataclass(frozen=True)
class Interaction:
    factors: tuple[str, str]
    squares: int  # complete 2 × 2 squares found
    estimate: Estimate | None


def interaction(
    configs: Iterable[Configuration], factors: tuple[str, str], measure: Measure, noise: Noise
) -> Interaction:
    """How much the effect of the first factor (first level → second) changes when the
    second factor goes to its second level: ``(a₁₁ − a₀₁) − (a₁₀ − a₀₀)``, averaged over
    every complete 2 × 2 square of the grid (same stage set and third factor)."""
    by_config = {c.gaff: c for c in configs if c.gaff is not None}
    (f, f_values), (g, g_values) = ((x, FACTOR_VALUES[x]) for x in factors)
    terms: list[tuple[SeedStats, float]] = []
    squares = 0
    for base in by_config:
        if (getattr(base, f), getattr(base, g)) != (f_values[0], g_values[0]):
            continue
        corners = [
            (replace(base, **{f: fv, g: gv}), 1.0 if (i == j) else -1.0)
            for i, fv in enumerate(f_values)
            for j, gv in enumerate(g_values)
        ]
        stats = [seed_stats(by_config.get(c), measure) for c, _ in corners]
        if all(s is not None for s in stats):
            squares += 1
            terms += [(s, w) for s, (_, w) in zip(stats, corners, strict=True)]
    if not squares:
        return Interaction(factors, 0, None)
    return Interaction(factors, squares, contrast([(s, w / squares) for s, w in terms], noise))
