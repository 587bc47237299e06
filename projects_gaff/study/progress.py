"""What the runner reports: ``master_log.txt``, and a progress bar with the ETA (remaining
runs × the mean wall time per run finished in this session). The bar is drawn on a terminal
only; a redirected log gets the master log's lines (each END with the ETA) instead."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm


class MasterLog:
    """Events: STUDY, LOCK, PLAN, SELECT, RANK, WARN, SKIP, START, INTERRUPTED, RESUME, END,
    FAILED. One timestamped line each, appended and flushed at once."""

    def __init__(self, path: Path, echo: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.echo = echo

    def write(self, event: str, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        first, *rest = message.splitlines() or [""]
        lines = [f"{stamp}  {event:<7} {first}", *(f"{'':33}{line}" for line in rest)]
        text = "\n".join(lines) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)  # flushed on close, before the next event
        if self.echo is not None:
            self.echo(text.rstrip("\n"))


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
