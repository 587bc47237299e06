"""Pedestrian-benchmark evaluation: the log-average miss rate (MR⁻²) and result files.

:mod:`.miss_rate` is the numpy core (no torch), :mod:`.result_files` reads and writes the
benchmark's ``image_index,x,y,w,h,score`` files, and :class:`MissRateEvaluator` (imported
lazily, it needs Detectron2) is the ``DatasetEvaluator`` that training and testing use.
"""

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
