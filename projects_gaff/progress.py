"""Progress of a loop: tqdm's bar on a terminal, plain lines in a redirected log.

tqdm redraws its bar with carriage returns, which a terminal overwrites in place but a log
file (``> run.log 2>&1``, SLURM's output file) keeps as one ever-longer line per redraw.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

# Plain mode prints a line about every tenth of the loop (and at its end).
_PLAIN_STEPS = 10


def progress(
    items: Iterable[T],
    desc: str,
    unit: str = "item",
    total: int | None = None,
    file: TextIO | None = None,
    enabled: bool = True,
) -> Iterator[T]:
    """``items``, reporting progress on ``file`` (default stderr, where tqdm writes)."""
    file = file or sys.stderr
    if not enabled:
        yield from items
        return
    if file.isatty():
        yield from tqdm(items, desc=desc, unit=unit, total=total, file=file)
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    step = max(1, (total or 0) // _PLAIN_STEPS)
    start = time.perf_counter()
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        if done % step == 0 and done != total:
            _line(file, desc, unit, done, total, start)
    _line(file, desc, unit, done, total, start)


def _line(file: TextIO, desc: str, unit: str, done: int, total: int | None, start: float) -> None:
    of = f"/{total}" if total else ""
    print(f"{desc}: {done}{of} {unit}s, {time.perf_counter() - start:.0f} s", file=file, flush=True)
