"""The GAFF ablation study and the fusion-method / modality comparisons (README.md, "The
ablation study"): plan, runner, executors, summary. CLI: ``tools/ablate.py``.

The runner and the executors (submitit, tqdm) load on first use, so the analysis can read
the plan and the run folders without them.
"""

import importlib

_EXPORTS = {
    ".comparison": ("FUSION", "MODALITY"),
    ".executors": ("SlurmOptions", "SubmititLauncher", "TrainCommand"),
    ".lock": ("LockHeldError", "StudyLock"),
    ".plan": ("parse_stage_label", "phase1_plan", "phase2_plan"),
    ".options": ("StudyError", "StudyOptions"),
    ".runner": ("Study",),
    ".status": ("Status", "run_status"),
    ".summary": ("COMPARISON_COLUMNS", "SUMMARY_COLUMNS"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name], __name__), name)
