"""The study's progress bar and its ETA: remaining runs × the mean wall time per run
finished in this session. The bar is drawn on a terminal only; a redirected log gets the
master log's START / END lines (each END with the ETA) instead of tqdm's redraws."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from tqdm import tqdm


class Progress:
    def __init__(self) -> None:
        self.bar = tqdm(
            total=0, unit="run", desc="study", file=sys.stderr, mininterval=1,
            disable=not sys.stderr.isatty(),
        )  # fmt: skip
        self.t0 = time.monotonic()
        self.total = self.done = self.done_now = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def add(self, runs: int, skipped: int) -> None:
        """``runs`` more in scope, ``skipped`` of them already finished."""
        self.total += runs
        self.done += skipped
        self.bar.total, self.bar.n, self.bar.initial = self.total, self.done, self.done
        self.bar.refresh()

    def running(self, names: Iterable[str]) -> None:
        self.bar.set_postfix_str(", ".join(sorted(names)), refresh=True)

    def finished_one(self, running: Iterable[str]) -> None:
        self.done += 1
        self.done_now += 1
        self.bar.update(1)
        self.running(running)

    def eta(self) -> str:
        remaining = self.total - self.done
        if not remaining:
            return "nothing left"
        hours = (time.monotonic() - self.t0) / 3600 / self.done_now * remaining
        return f"{remaining} left, ETA {hours_text(hours)}"


def hours_text(hours: float) -> str:
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:.2f} h"
