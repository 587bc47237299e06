"""Training and inference engine: trainer, study hook, schedule, predictor."""

from .checkpoint import StudyCheckpointer
from .evaluation import evaluate_coco, validation_loss
from .hooks import StudyHook
from .model_info import count_gflops, model_info, parameter_breakdown
from .predictor import GAFFPredictor
from .schedule import resolve_epochs
from .setup import setup_cfg, setup_run, study_fields
from .step import AccumulatingTrainer
from .trainer import GAFFTrainer, evaluate_splits

__all__ = [
    "AccumulatingTrainer",
    "GAFFPredictor",
    "GAFFTrainer",
    "StudyCheckpointer",
    "StudyHook",
    "count_gflops",
    "evaluate_coco",
    "evaluate_splits",
    "model_info",
    "parameter_breakdown",
    "resolve_epochs",
    "setup_cfg",
    "setup_run",
    "study_fields",
    "validation_loss",
]
