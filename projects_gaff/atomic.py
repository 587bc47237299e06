"""Crash-safe result files: whole-file writes go through a temporary file and a rename."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any


def _process_umask() -> int:
    """The umask, read (by setting it) once, at import, before other threads write files."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# The mode open() would give (mkstemp's is 0o600): result files stay readable to the group.
FILE_MODE = 0o666 & ~_process_umask()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the new content, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _csv_text(columns: list[str], rows: Iterable[Mapping[str, Any]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def atomic_write_csv(
    path: str | Path, columns: list[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    atomic_write_text(path, _csv_text(columns, rows, header=True))


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV written by this module; a torn last line (killed mid-write) is dropped."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(text)))


class AppendOnlyCsv:
    """A CSV log that grows one complete line per ``append``; on open it keeps only the rows
    ``keep`` accepts (how a resumed run drops those written after its last checkpoint)."""

    def __init__(self, path: str | Path, columns: list[str], keep: Callable[[dict], bool]):
        self.path = Path(path)
        self.columns = columns
        atomic_write_csv(self.path, columns, [r for r in read_csv(self.path) if keep(r)])

    def append(self, row: Mapping[str, Any]) -> None:
        row = {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(_csv_text(self.columns, [row], header=False))
            f.flush()
