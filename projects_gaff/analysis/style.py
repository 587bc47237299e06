"""One look for every figure (``RC``, applied while the report draws and saves them; plain
``Figure`` objects, so pyplot's global state is never touched) and fixed colours, so a
configuration has the same colour in every plot: tab10 by stage set in phase 1, Dark2 by
(inter-shared, merge) in phase 2 with r4 solid (circles) and r8 dashed (squares)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from ..study.plan import STAGE_SETS, GaffConfig

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 110
STAGE_COLOURS = {
    GaffConfig(s).stage_label: matplotlib.colormaps["tab10"](i) for i, s in enumerate(STAGE_SETS)
}
_PAIR_COLOURS = {
    (False, False): "#1b9e77",
    (False, True): "#d95f02",
    (True, False): "#7570b3",
    (True, True): "#e7298a",
}
_REFERENCE_STYLES = {  # method → (colour, line style)
    "none": ("black", "--"),
    "rgb": ("dimgray", ":"),
    "cssa": ("#8c564b", "-."),
}


def figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    return path


def stage_colour(config: GaffConfig):
    return STAGE_COLOURS[config.stage_label]


def combo_style(config: GaffConfig) -> dict:
    """Line and marker style of a phase-2 hyper-parameter combination."""
    r4 = config.se_reduction == 4
    return {
        "color": _PAIR_COLOURS[(config.inter_shared, config.merge_bottleneck)],
        "linestyle": "-" if r4 else "--",
        "marker": "o" if r4 else "s",
    }


def combo_label(config: GaffConfig) -> str:
    """``r8 is1 mb0``: the configuration without its stage set."""
    return config.code.split("_", 1)[1].replace("_", " ")


def reference_style(method: str) -> tuple[str, object]:
    return _REFERENCE_STYLES.get(method, ("gray", (0, (5, 2, 1, 2))))
