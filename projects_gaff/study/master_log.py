"""``master_log.txt``: one timestamped line per study event, appended and flushed at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path


class MasterLog:
    """Events: STUDY, LOCK, PLAN, SELECT, RANK, WARN, SKIP, START, INTERRUPTED, RESUME, END,
    FAILED."""

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
            f.write(text)
            f.flush()
        if self.echo is not None:
            self.echo(text.rstrip("\n"))
