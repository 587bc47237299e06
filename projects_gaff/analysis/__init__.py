"""Analysis of a GAFF ablation study (``tools/analyze.py``): read the study folder or the
earlier implementation's summary CSV, measure the seed noise, rank the configurations, test
the guide's hypotheses H1–H4 and write ``report.md`` with its PNG figures.

Needs neither torch nor detectron2 (matplotlib, numpy and PyYAML only), so it runs anywhere
the results can be copied to.
"""

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
