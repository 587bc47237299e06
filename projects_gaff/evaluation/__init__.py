"""Pedestrian-benchmark evaluation: the log-average miss rate (MR⁻²) and result files.
:class:`MissRateEvaluator` is imported lazily: it needs Detectron2, the rest only numpy."""

from .miss_rate import SETTINGS, SUBSETS, Curve, FrameTruth, Setting, evaluate_miss_rate, summarize

__all__ = [
    "SETTINGS",
    "SUBSETS",
    "Curve",
    "FrameTruth",
    "MissRateEvaluator",
    "Setting",
    "evaluate_miss_rate",
    "summarize",
]


def __getattr__(name: str):
    if name == "MissRateEvaluator":
        from .evaluator import MissRateEvaluator

        return MissRateEvaluator
    raise AttributeError(f"module 'projects_gaff.evaluation' has no attribute {name!r}")
