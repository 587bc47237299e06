"""Markdown tables of benchmark results (CSV files go through :mod:`projects_gaff.atomic`)."""

from __future__ import annotations

from collections.abc import Sequence

from ..markdown import markdown_table


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def results_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """``columns`` of each result row (floats to 4 significant digits)."""
    return markdown_table(columns, [[_cell(row.get(c)) for c in columns] for row in rows])
