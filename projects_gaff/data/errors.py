"""Bad-input errors that name the file, the problem and the fix; skipping is opt-in and logged."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_MAX_LISTED = 10  # problems listed in full in one error message; the rest are counted


class DatasetError(ValueError):
    """A sample or dataset on disk cannot be used as it is."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


def problem(path: str | Path, what: str, fix: str) -> DatasetError:
    """The error for one bad file: ``<file>: <what>. Fix: <fix>``."""
    return DatasetError(f"{path}: {what}. Fix: {fix}")


def numbers(where: str, fields: list[str], line: str) -> list[float]:
    """The numeric fields of one text-annotation line, or the error naming the line."""
    try:
        return [float(field) for field in fields]
    except ValueError:
        raise problem(
            where, f"has a field that is not a number ({line.strip()!r})", "correct it"
        ) from None


def text_lines(path: Path, fix: str) -> list[str]:
    """The lines of a text annotation file."""
    try:
        return path.read_text().splitlines()
    except UnicodeDecodeError:
        raise problem(path, "is not a text file", fix) from None


class BadSamples:
    """Per-sample problems of one dataset: strict mode raises them all in one error (one pass
    to fix them), skip mode logs each skipped sample and the count."""

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
        count = len(self.problems)
        if count and self.skip:
            logger.warning(
                "Skipped %d of %d samples of %s (SKIP_BAD_SAMPLES is on; see warnings above).",
                count,
                total,
                self.dataset,
            )
        if not count or self.skip:
            return
        skip_hint = (
            "set DATASETS.GAFF.SKIP_BAD_SAMPLES True to leave bad samples out (each one is logged)"
        )
        if count == 1:  # one line, as the console shows one error line
            message = f"{self.problems[0]} (1 bad sample in {self.dataset}; or {skip_hint})"
        else:
            listed = "\n  ".join(self.problems[:_MAX_LISTED])
            more = f"\n  ... and {count - _MAX_LISTED} more" if count > _MAX_LISTED else ""
            message = (
                f"{count} bad sample(s) in {self.dataset}:\n  {listed}{more}\n"
                f"Fix the files above, or {skip_hint}."
            )
        raise DatasetError(message, problems=list(self.problems))


def build_records(
    items: list[Any],
    build: Callable[[int, Any], dict],
    dataset: str,
    skip: bool,
    orphans: Iterable[DatasetError] = (),
) -> list[dict]:
    """``build(index, item)`` for every item, then the ``orphans`` (files no item uses): all
    bad ones are raised together, or skipped (``skip``); no usable record is an error."""
    bad = BadSamples(dataset, skip)
    records = []
    for index, item in enumerate(items):
        try:
            records.append(build(index, item))
        except DatasetError as err:
            bad.add(err)
    for err in orphans:
        bad.add(err)
    bad.finish(len(items))
    require_samples(records, dataset, "fix the bad samples listed above")
    return records


def require_samples(found: list[Any], where: str | Path, fix: str) -> None:
    """An empty dataset is an error, never an empty training run."""
    if not found:
        raise problem(where, "contains no samples", fix)
