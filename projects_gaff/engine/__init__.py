"""Training and inference engine: trainer, hooks, writers, evaluation, predictor."""

from .checkpoint import StudyCheckpointer
from .evaluation import build_evaluator, evaluate_splits
from .hooks import StudyBestCheckpointer, StudyPeriodicCheckpointer
from .model_info import count_gflops, parameter_breakdown
from .predictor import GAFFPredictor
from .results import write_final_results
from .setup import resolve_epochs, setup_cfg, setup_run, study_fields
from .step import AccumulatingTrainer
from .trainer import GAFFTrainer

__all__ = [
    "AccumulatingTrainer",
    "GAFFPredictor",
    "GAFFTrainer",
    "StudyBestCheckpointer",
    "StudyCheckpointer",
    "StudyPeriodicCheckpointer",
    "build_evaluator",
    "count_gflops",
    "evaluate_splits",
    "parameter_breakdown",
    "resolve_epochs",
    "setup_cfg",
    "setup_run",
    "study_fields",
    "write_final_results",
]
