"""Analysis of a GAFF ablation study (``tools/analyze.py``, README.md "Analysis"). Needs
neither torch nor detectron2 (matplotlib, numpy, PyYAML), so it runs wherever the results
can be copied to."""

from .findings import HYPOTHESES, Analysis, Finding, analyse
from .load import load_results
from .model import Configuration, RunResult, StudyData
from .report import REPORT_NAME, write_report

__all__ = [
    "HYPOTHESES",
    "REPORT_NAME",
    "Analysis",
    "Configuration",
    "Finding",
    "RunResult",
    "StudyData",
    "analyse",
    "load_results",
    "write_report",
]
