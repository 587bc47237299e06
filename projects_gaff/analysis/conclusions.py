"""The study's conclusions as values, computed before any sentence is written, so tests
check them without parsing text: the stage-set expectations, the verdicts, the best GAFF
configuration against each reference (baseline, RGB only, CSSA)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..study.comparison import FUSION, MODALITY, Comparison, Method
from ..study.ranking import Ranked
from .findings import Analysis
from .model import Configuration
from .stats import Estimate, difference

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
    gain = None
    if reference is not None and a.best is not None:
        gain = difference(a.stats(a.best), a.stats(reference), a.noise)
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
