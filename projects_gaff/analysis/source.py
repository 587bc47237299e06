"""Which reader a path needs: a study folder of ``tools/ablate.py``, or a summary CSV in the
earlier implementation's columns (the file itself, or a folder holding one as
``summary_all_experiments.csv``; that folder's run files have another format)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..run_files import PHASE_FOLDERS, STUDY_MANIFEST, SUMMARY
from .load_csv import is_summary_csv, load_summary_csv
from .load_study import load_study
from .model import StudyData


def load_results(path: Path, extra: Sequence[Path] = ()) -> StudyData:
    """Raises ``FileNotFoundError`` or ``ValueError`` with a message for the user."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    csv_file = path if path.is_file() else path / SUMMARY
    if csv_file.is_file() and is_summary_csv(csv_file):
        if extra:
            raise ValueError("--extra needs a study folder of tools/ablate.py, not a summary CSV")
        return load_summary_csv(csv_file)
    if path.is_file():
        raise ValueError(
            f"{path} is not a summary CSV with the earlier implementation's columns "
            "(experiment_id, mAP, ...); give the study folder instead"
        )
    if not any((path / name).exists() for name in (*PHASE_FOLDERS.values(), STUDY_MANIFEST)):
        raise ValueError(
            f"{path} is not a study folder of tools/ablate.py (it has no "
            f"{', '.join(PHASE_FOLDERS.values())} or {STUDY_MANIFEST})"
        )
    return load_study(path, extra)
