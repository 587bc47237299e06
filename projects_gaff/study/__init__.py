"""The GAFF ablation study (guide §2, §5) and the fusion-method / modality comparisons
(§8.2): plan, runner, executors, summary. CLI: ``tools/ablate.py``."""

from .comparison import COMPARISONS, FUSION, MODALITY, Comparison, Method, MethodConfig
from .executors import ProcessLauncher, SlurmOptions, SubmititLauncher, TrainCommand, execute
from .lock import LockHeldError, StudyLock
from .plan import Experiment, GaffConfig, Run, parse_stage_label, phase1_plan, phase2_plan
from .runner import Study, StudyError, StudyOptions
from .status import Status, read_final_results, run_status
from .summary import COMPARISON_COLUMNS, SUMMARY_COLUMNS

__all__ = [
    "COMPARISONS",
    "COMPARISON_COLUMNS",
    "FUSION",
    "MODALITY",
    "SUMMARY_COLUMNS",
    "Comparison",
    "Experiment",
    "GaffConfig",
    "LockHeldError",
    "Method",
    "MethodConfig",
    "ProcessLauncher",
    "Run",
    "SlurmOptions",
    "Status",
    "Study",
    "StudyError",
    "StudyLock",
    "StudyOptions",
    "SubmititLauncher",
    "TrainCommand",
    "execute",
    "parse_stage_label",
    "phase1_plan",
    "phase2_plan",
    "read_final_results",
    "run_status",
]
