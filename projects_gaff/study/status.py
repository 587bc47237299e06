"""What a run folder says about its run: finished (``final_results.json``, written last),
partial (a checkpoint to resume from), failed or pending. The folder is the only source of
truth, so a killed runner, a re-attached SLURM job and a hand-copied result read the same."""

from __future__ import annotations

import enum
import json
import math
import signal
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_write_json
from ..run_files import (
    COCO_KEYS,
    CONSOLE_LOG,
    DEFAULT_SELECT_METRIC,
    EXIT_REASONS,
    FAILED_RECORD,
    FINAL_RESULTS,
    LAST_CHECKPOINT,
    TRAINING_LOG,
    lower_is_better,
)


class Status(str, enum.Enum):
    FINISHED = "finished"
    PARTIAL = "partial"
    FAILED = "FAILED"
    PENDING = "pending"
    RUNNING = "running"  # only known to the runner that started it


def read_final_results(run_dir: Path) -> dict | None:
    """The run's final results, or None unless complete: every COCO test metric (null for an
    object size absent from the split), or miss rates for a miss-rate-only evaluation."""
    results = read_json(run_dir / FINAL_RESULTS)
    test = results.get("test")
    if not isinstance(test, dict) or "completed_at" not in results:
        return None
    complete = all(k in test for k in COCO_KEYS) or any(lower_is_better(k) for k in test)
    return results if complete else None


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / LAST_CHECKPOINT).is_file()


def run_status(run_dir: Path) -> Status:
    if read_final_results(run_dir) is not None:
        return Status.FINISHED
    if (run_dir / FAILED_RECORD).is_file():
        return Status.FAILED
    return Status.PARTIAL if has_checkpoint(run_dir) else Status.PENDING


def failure_reason(returncode: int | None, error: str | None = None) -> str:
    """Why a run without final results failed: the job's error, else its exit code."""
    if error:
        return f"job failed: {error}"
    if returncode is None:
        return "no exit code (the job did not return)"
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    if returncode == 0:
        return f"exited 0 without a valid {FINAL_RESULTS}"
    return EXIT_REASONS.get(returncode, f"exit code {returncode}")


def log_tail(run_dir: Path, lines: int = 25) -> str:
    """Last lines of the run's console output (stdout + stderr), else of training.log."""
    for name in (CONSOLE_LOG, TRAINING_LOG):
        path = run_dir / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").rstrip()
            if text:
                return "\n".join(text.splitlines()[-lines:])
    return "(no output)"


def record_failure(run_dir: Path, reason: str, returncode: int | None = None) -> dict:
    """Write ``failed.json`` (reason, exit code, log tail); the next study run retries."""
    record = {
        "reason": reason,
        "returncode": returncode,
        "log_tail": log_tail(run_dir),
        "failed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(run_dir / FAILED_RECORD, record)
    return record


def metric(results: dict, split: str, key: str = DEFAULT_SELECT_METRIC) -> float | None:
    value = results.get(split, {}).get(key)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if number and not math.isnan(value) else None


def read_json(path: Path) -> dict:
    """A JSON object file, or ``{}`` when it is absent, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
