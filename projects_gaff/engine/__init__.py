"""Training and inference engine: trainer, hooks, writers, evaluation, predictor."""

from .checkpoint import StudyCheckpointer
from .evaluation import build_evaluator, evaluate_detector, evaluate_splits, validation_loss
from .hooks import (
    RNGState,
    StudyBestCheckpointer,
    StudyPeriodicCheckpointer,
    TrainingClock,
    ValidationHook,
)
from .model_info import count_gflops, model_info, parameter_breakdown
from .predictor import GAFFPredictor
from .results import write_final_results
from .schedule import resolve_epochs
from .setup import setup_cfg, setup_run, study_fields
from .step import AccumulatingTrainer
from .trainer import GAFFTrainer
from .writers import StudyCsvWriter

__all__ = [
    "AccumulatingTrainer",
    "GAFFPredictor",
    "GAFFTrainer",
    "RNGState",
    "StudyBestCheckpointer",
    "StudyCheckpointer",
    "StudyCsvWriter",
    "StudyPeriodicCheckpointer",
    "TrainingClock",
    "ValidationHook",
    "build_evaluator",
    "count_gflops",
    "evaluate_detector",
    "evaluate_splits",
    "model_info",
    "parameter_breakdown",
    "resolve_epochs",
    "setup_cfg",
    "setup_run",
    "study_fields",
    "validation_loss",
    "write_final_results",
]
