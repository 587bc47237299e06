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
    """The umask, read once: ``os.umask`` can only be read by setting it, which would
    briefly change it for every thread; at import no other thread writes files yet."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Files get mode 0o666 minus the umask, like open() would give them: mkstemp's temp file
# is private (0o600), and without this every result file would stay unreadable to the
# group on a shared cluster.
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


def atomic_write_csv(
    path: str | Path, columns: list[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


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
    """A CSV log that grows one complete line per ``append``.

    ``keep`` (on open) rewrites the file atomically with only the rows it accepts, which is
    how a resumed run drops the rows written after its last checkpoint: no row is ever
    duplicated or missing.
    """

    def __init__(self, path: str | Path, columns: list[str], keep: Callable[[dict], bool]):
        self.path = Path(path)
        self.columns = columns
        atomic_write_csv(self.path, columns, [r for r in read_csv(self.path) if keep(r)])

    def append(self, row: Mapping[str, Any]) -> None:
        buffer = io.StringIO()
        csv.DictWriter(
            buffer, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n"
        ).writerow({k: _format(v) for k, v in row.items()})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(buffer.getvalue())
            f.flush()


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
