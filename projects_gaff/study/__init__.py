"""The GAFF ablation study (guide §2, §5): plan, runner, executors, summary. CLI:
``tools/ablate.py``."""

from .executors import ProcessLauncher, SlurmOptions, SubmititLauncher, TrainCommand, execute
from .lock import LockHeldError, StudyLock
from .plan import Experiment, GaffConfig, Run, parse_stage_label, phase1_plan, phase2_plan
from .runner import Study, StudyError, StudyOptions
from .status import Status, read_final_results, run_status
from .summary import SUMMARY_COLUMNS

__all__ = [
    "SUMMARY_COLUMNS",
    "Experiment",
    "GaffConfig",
    "LockHeldError",
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
