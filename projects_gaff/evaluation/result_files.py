"""KAIST benchmark result files: ``image_index,x,y,w,h,score`` lines, the index 1-based,
the box XYWH in pixels. Reading checks every line: a dropped one would change a number."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.errors import problem

FIELDS = ("image_index", "x", "y", "w", "h", "score")


def read_results(path: str | Path, frames: int) -> list[np.ndarray]:
    """Per-frame (M, 5) arrays ``x, y, w, h, score`` of a result file for ``frames`` frames."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise problem(path, "result file does not exist", "check the path") from None
    except UnicodeDecodeError:
        raise problem(
            path, "is not a text file", f"write one '{','.join(FIELDS)}' line per box"
        ) from None
    per_frame: list[list[list[float]]] = [[] for _ in range(frames)]
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            index, row = _result_row(f"{path}:{number}", line, frames)
            per_frame[index].append(row)
    return [np.asarray(rows, float).reshape(-1, 5) for rows in per_frame]


def _result_row(where: str, line: str, frames: int) -> tuple[int, list[float]]:
    fields = [field.strip() for field in line.split(",")]
    fix = f"write '{','.join(FIELDS)}' (comma-separated, box in pixels, index 1-based)"
    if len(fields) != len(FIELDS):
        raise problem(where, f"has {len(fields)} fields ({line.strip()!r})", fix)
    try:
        values = [float(field) for field in fields]
    except ValueError:
        raise problem(where, f"has a field that is not a number ({line.strip()!r})", fix) from None
    if not all(math.isfinite(v) for v in values):
        raise problem(where, f"has a non-finite value ({line.strip()!r})", "correct the line")
    index, x, y, w, h, score = values
    if index != int(index) or not 1 <= index <= frames:
        raise problem(
            where,
            f"has image index {index:g}, outside 1-{frames} (the annotation file's frames)",
            "indices are the annotation's image id + 1; check that the result file belongs "
            "to these annotations",
        )
    if w < 0 or h < 0:
        raise problem(
            where,
            f"has a negative width or height ({w:g} x {h:g})",
            "write x, y, width, height (not x0, y0, x1, y1)",
        )
    return int(index) - 1, [x, y, w, h, score]


def format_results(detections: Sequence[np.ndarray]) -> str:
    """The inverse of :func:`read_results`."""
    lines = [
        f"{index},{x:.4f},{y:.4f},{w:.4f},{h:.4f},{score:.8f}"
        for index, frame in enumerate(detections, start=1)
        for x, y, w, h, score in np.asarray(frame, float).reshape(-1, 5).tolist()
    ]
    return "".join(line + "\n" for line in lines)
