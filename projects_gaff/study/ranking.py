"""Seed statistics, the seed-noise threshold and the ranking that picks phase 2's configs.
Every comparison says when it is inside the seed noise (the earlier study's whole spread,
81.7–83.8 AP, was about that size)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedStats:
    """Mean and sample standard deviation of one configuration's metric over its seeds."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None


def mean_of(values: Iterable) -> float | None:
    """Mean of the numbers among ``values`` (None, text and missing values skipped)."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return statistics.fmean(numbers) if numbers else None


def pooled_std(groups: Iterable[SeedStats]) -> float | None:
    """Seed-to-seed std pooled over the configurations with ≥ 2 seeds (noise is a property
    of the training recipe, which all share)."""
    groups = [g for g in groups if g.n > 1]
    dof = sum(g.n - 1 for g in groups)
    if not dof:
        return None
    return math.sqrt(sum((g.n - 1) * g.std**2 for g in groups) / dof)


def within_noise(a: SeedStats, b: SeedStats, sigma: float | None) -> bool | None:
    """Whether the means differ by less than two standard errors of their difference (about
    95 %); None when the noise is unknown."""
    if sigma is None:
        return None
    return abs(a.mean - b.mean) < 2 * sigma * math.sqrt(1 / a.n + 1 / b.n)


@dataclass(frozen=True)
class Ranked:
    key: str
    stats: SeedStats
    rank: int
    gap_to_best: float
    within_noise_of_best: bool | None


def rank(
    scores: Mapping[str, SeedStats], sigma: float | None, lower_is_better: bool = False
) -> list[Ranked]:
    """Best mean first (smallest for a miss rate), ties in the plan's order; ``gap_to_best``
    (≥ 0) is how much worse than #1."""
    sign = 1.0 if lower_is_better else -1.0
    ordered = sorted(scores.items(), key=lambda item: sign * item[1].mean)
    if not ordered:
        return []
    best = ordered[0][1]
    return [
        Ranked(key, s, i + 1, sign * (s.mean - best.mean), within_noise(best, s, sigma))
        for i, (key, s) in enumerate(ordered)
    ]


def top_k(ranking: Sequence[Ranked], k: int, sigma: float | None) -> tuple[list[str], str | None]:
    """The first ``k`` keys, and a warning when the cut between #k and #k+1 is inside the
    seed noise (or the noise is unknown)."""
    chosen = [r.key for r in ranking[:k]]
    if len(ranking) <= k:
        return chosen, None
    last, first_out = ranking[k - 1], ranking[k]
    close = within_noise(last.stats, first_out.stats, sigma)
    if close is None:
        return chosen, (
            f"one seed per configuration: the cut between #{k} {last.key} "
            f"({last.stats.mean:.2f}) and #{k + 1} {first_out.key} ({first_out.stats.mean:.2f}) "
            "cannot be checked against seed noise (use --seeds 3)"
        )
    if close:
        return chosen, (
            f"#{k} {last.key} ({last.stats.mean:.2f}) and #{k + 1} {first_out.key} "
            f"({first_out.stats.mean:.2f}) are closer than the seed noise "
            f"(pooled std {sigma:.2f}): the top-{k} cut is not supported by the data"
        )
    return chosen, None
