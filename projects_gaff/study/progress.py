"""The study's progress bar on stderr and its ETA: remaining runs × the mean wall time per
run finished in this session."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from tqdm import tqdm


class Progress:
    def __init__(self) -> None:
        self.bar = tqdm(total=0, unit="run", desc="study", file=sys.stderr, mininterval=1)
        self.t0 = time.monotonic()
        self.done_now = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def add(self, runs: int, skipped: int) -> None:
        """``runs`` more in scope, ``skipped`` of them already finished."""
        self.bar.total += runs
        self.bar.n += skipped
        self.bar.initial += skipped
        self.bar.refresh()

    def running(self, names: Iterable[str]) -> None:
        self.bar.set_postfix_str(", ".join(sorted(names)), refresh=True)

    def finished_one(self, running: Iterable[str]) -> None:
        self.done_now += 1
        self.bar.update(1)
        self.running(running)

    def eta(self) -> str:
        remaining = self.bar.total - self.bar.n
        if not remaining:
            return "nothing left"
        hours = (time.monotonic() - self.t0) / 3600 / self.done_now * remaining
        return f"{remaining} left, ETA {hours_text(hours)}"


def hours_text(hours: float) -> str:
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:.2f} h"
