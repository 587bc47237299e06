"""Number formats and Markdown tables of the report (one format per kind of number, so
the text, the tables and the plot labels say the same thing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..study.ranking import SeedStats, mean_of
from .model import Configuration
from .stats import EARLIER_SPREAD, SPREAD_SOURCE, Estimate


def count(value: float | None) -> str:
    """Parameters: ``28.8K``, ``1.84M``."""
    if value is None:
        return "—"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f}K"
    return f"{value:.0f}"


def number(value: float | None, digits: int = 2, sign: bool = False) -> str:
    return "—" if value is None else f"{value:{'+' if sign else ''}.{digits}f}"


def _and(value: float, extra: float | None, template: str, digits: int, sign: bool = False) -> str:
    """``value`` followed by ``template`` holding ``extra``, unless ``extra`` is None."""
    text = number(value, digits, sign)
    return text if extra is None else text + template.format(number(extra, digits))


def mean_std(stats: SeedStats | None, digits: int = 2) -> str:
    """``83.40 ± 0.21`` (seed std), or the single value with one seed."""
    return "—" if stats is None else _and(stats.mean, stats.std, " ± {}", digits)


def effect(estimate: Estimate | None, digits: int = 2) -> str:
    """``+0.40 (2 SE 0.31)``: an effect and the seed-noise threshold it is compared with."""
    if estimate is None:
        return "—"
    return _and(estimate.value, estimate.threshold, " (2 SE {})", digits, sign=True)


def bullets(lines) -> str:
    return "\n".join(f"- {line}" for line in lines)


def noise_flag(estimate: Estimate | None) -> str:
    """Whether an effect is larger than the seed noise: yes / no / unknown."""
    if estimate is None:
        return "—"
    return {True: "yes", False: "no", None: "unknown"}[estimate.exceeds_noise]


@dataclass(frozen=True)
class CostRow:
    label: str
    value: Callable[[Configuration], float | None]
    text: Callable[[float], str]
    lower_is_better: bool = True

    def cell(self, config: Configuration) -> str:
        value = self.value(config)
        return "—" if value is None else self.text(value)


COST_ROWS = (
    CostRow("Params (M)", lambda c: c.parameter("total"), lambda v: f"{v / 1e6:.2f}"),
    CostRow("Fusion params", lambda c: c.parameter("gaff_total"), count),
    CostRow("GFLOPs", lambda c: c.first.gflops, lambda v: f"{v:.1f}"),
    CostRow("Time (h)", lambda c: mean_of(r.training_hours for r in c.runs),
            lambda v: f"{v:.2f}"),
    CostRow("Inference FPS", lambda c: mean_of(r.inference_fps for r in c.runs),
            lambda v: f"{v:.1f}", lower_is_better=False),
    CostRow("Peak memory (GB)", lambda c: mean_of(r.peak_memory_mb for r in c.runs),
            lambda v: f"{v / 1024:.1f}"),
)  # fmt: skip
TABLE_COSTS = COST_ROWS[:4]  # the guide's table columns: parameters, overhead, GFLOPs, time


def cost_cells(config: Configuration) -> list[str]:
    return [row.cell(config) for row in TABLE_COSTS]


def judged(
    estimate: Estimate | None, on_ap: bool = True, unit: str = " AP", digits: int = 2
) -> str:
    """An effect with its verdict against the seed noise, for the report's sentences:
    ``+0.40, beyond the seed noise (2 SE 0.31)``. With the noise unknown, an AP effect is
    set against the earlier one-seed study's whole spread (``EARLIER_SPREAD``)."""
    if estimate is None:
        return "not measurable (no data)"
    value = f"{estimate.value:+.{digits}f}{unit}"
    if estimate.se is None:
        if not on_ap:
            return f"{value}; seed noise unknown (one seed per configuration)"
        low, high = EARLIER_SPREAD
        size = "below" if abs(estimate.value) < high - low else "above"
        return (
            f"{value}; seed noise unknown, {size} the earlier one-seed study's "
            f"{high - low:.1f}-point spread ({SPREAD_SOURCE})"
        )
    where = "beyond" if estimate.exceeds_noise else "within"
    return f"{value}, {where} the seed noise (2 SE {estimate.threshold:.{digits}f})"


def image(path: Path | None, caption: str, why: str = "no data for it yet") -> str:
    """A figure of the report (linked by file name: the PNGs sit beside report.md); ``why``
    says why it was not drawn."""
    if path is None:
        return f"*{caption}: not drawn ({why}).*"
    return f"![{caption}]({path.name})\n\n*{caption}.*"
