"""Bad-input handling: one exception type, and a collector that either raises or skips.

Every problem names the file, what is wrong and how to fix it, so a user with a broken
sample never has to guess. Nothing is dropped silently: skipping is opt-in and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Problems listed in full in one error message; the rest are counted.
_MAX_LISTED = 10


class DatasetError(ValueError):
    """A sample or dataset on disk cannot be used as it is."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


def problem(path: str | Path, what: str, fix: str) -> DatasetError:
    """Build the error for one bad file: ``<file>: <what>. Fix: <fix>``."""
    return DatasetError(f"{path}: {what}. Fix: {fix}")


def numbers(where: str, fields: list[str], line: str) -> list[float]:
    """The numeric fields of one text-annotation line, or the error naming the line."""
    try:
        return [float(field) for field in fields]
    except ValueError:
        raise problem(
            where, f"has a field that is not a number ({line.strip()!r})", "correct it"
        ) from None


class BadSamples:
    """Collects per-sample problems while a dataset is read.

    Strict mode (the default) raises one :class:`DatasetError` listing every problem found,
    so a user fixes them all in one pass; skip mode logs each skipped file and the count.
    """

    def __init__(self, dataset: str, skip: bool):
        self.dataset = dataset
        self.skip = skip
        self.problems: list[str] = []

    def add(self, error: DatasetError) -> None:
        """Record one bad sample (one error per sample, so the count is a sample count)."""
        self.problems.append(str(error))
        if self.skip:
            logger.warning("Skipping a bad sample of %s: %s", self.dataset, error)

    def finish(self, total: int) -> None:
        """Raise (strict) or log the skip count; ``total`` counts the samples inspected."""
        if not self.problems:
            return
        if self.skip:
            logger.warning(
                "Skipped %d of %d samples of %s (SKIP_BAD_SAMPLES is on; see warnings above).",
                len(self.problems),
                total,
                self.dataset,
            )
            return
        skip_hint = (
            "set DATASETS.GAFF.SKIP_BAD_SAMPLES True to leave bad samples out (each one is logged)"
        )
        if len(self.problems) == 1:  # one line, as the console shows one error line
            raise DatasetError(
                f"{self.problems[0]} (1 bad sample in {self.dataset}; or {skip_hint})",
                problems=list(self.problems),
            )
        listed = "\n  ".join(self.problems[:_MAX_LISTED])
        more = len(self.problems) - _MAX_LISTED
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise DatasetError(
            f"{len(self.problems)} bad sample(s) in {self.dataset}:\n  {listed}{tail}\n"
            f"Fix the files above, or {skip_hint}.",
            problems=list(self.problems),
        )


def collect_records(
    items: list[Any], build: Callable[[int, Any], dict], bad: BadSamples
) -> list[dict]:
    """``build(index, item)`` for every item; a :class:`DatasetError` goes to ``bad``."""
    records = []
    for index, item in enumerate(items):
        try:
            records.append(build(index, item))
        except DatasetError as err:
            bad.add(err)
    return records


def require_samples(found: list[Any], where: str, fix: str) -> None:
    """An empty dataset is an error, never an empty training run."""
    if not found:
        raise problem(where, "contains no samples", fix)
