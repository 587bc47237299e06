#!/usr/bin/env python
r"""Miss rate against false positives per image, the figure pedestrian-detection papers print.

    python tools/plot_miss_rate.py --annotations ../shared/data/kaist_eval/KAIST_annotation.json \
        --results output/run/inference/miss_rate_result.txt \
        ../shared/data/kaist_eval/MBNet_result.txt ../shared/data/kaist_eval/MSDS-RCNN_result.txt \
        --output mr_fppi.png

One log-log panel per subset (all, day, night) of one setting (``--setting``, default
reasonable); a curve per result file (this run's, from the miss-rate evaluator or
``tools/export_detections.py``, and any published ones), labelled "MR⁻² method" and listed
in the legend from the highest MR⁻² to the lowest, as Dollár's toolbox draws it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from projects_gaff.data import DatasetError
from projects_gaff.data.kaist import kaist_json_records
from projects_gaff.evaluation import SETTINGS, SUBSETS, Curve, evaluate_miss_rate
from projects_gaff.evaluation.evaluator import ground_truth
from projects_gaff.evaluation.result_files import read_results

MISS_TICKS = [0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.64, 0.8, 1.0]
FPPI_RANGE = (1e-3, 1e1)
RESULT_SUFFIX = "_result"


def method_name(path: Path) -> str:
    """``MBNet_result.txt`` -> ``MBNet``."""
    return path.stem.removesuffix(RESULT_SUFFIX)


def plot(curves: dict[str, dict[str, Curve | None]], setting: str, output: Path) -> Path:
    """Save the all / day / night panels of ``curves[method][subset]`` to ``output``."""
    colours = matplotlib.colormaps["tab10"]
    style = {
        m: (colours(i % 10), ("-", "--", "-.", ":")[i // 10 % 4]) for i, m in enumerate(curves)
    }
    figure = Figure(figsize=(15, 5.2), layout="constrained")
    for axis, subset in zip(figure.subplots(1, len(SUBSETS)), SUBSETS, strict=True):
        drawn = [(m, c[subset]) for m, c in curves.items() if c[subset] is not None]
        for method, curve in sorted(drawn, key=lambda mc: -mc[1].log_average):
            colour, line = style[method]
            # Points at FPPI 0 cannot sit on a log axis: start the curve at its left edge.
            fppi = curve.fppi.clip(FPPI_RANGE[0], None)
            axis.plot(
                [FPPI_RANGE[0], *fppi],
                [1.0, *curve.miss_rate],
                drawstyle="steps-post",
                color=colour,
                linestyle=line,
                linewidth=2,
                label=f"{100 * curve.log_average:.2f}% {method}",
            )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlim(*FPPI_RANGE)
        axis.set_ylim(0.05 if not drawn else min(0.05, _floor(drawn)), 1.0)
        axis.yaxis.set_major_locator(FixedLocator(MISS_TICKS))
        axis.yaxis.set_major_formatter(
            matplotlib.ticker.FixedFormatter([f"{t:.2f}".lstrip("0") for t in MISS_TICKS])
        )
        axis.yaxis.set_minor_locator(NullLocator())
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.grid(True, which="major", linestyle=":", color="0.6")
        axis.set_xlabel("false positives per image")
        axis.set_ylabel("miss rate")
        axis.set_title(f"{setting} — {subset}")
        if drawn:
            axis.legend(loc="lower left", fontsize=10, framealpha=0.9)
    output.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure).print_figure(str(output), dpi=110)
    return output


def _floor(drawn: list[tuple[str, Curve]]) -> float:
    """A lower miss-rate limit that shows every curve's best point (at most 1 %)."""
    lowest = min(float(c.miss_rate.min()) if len(c.miss_rate) else 1.0 for _, c in drawn)
    return max(0.01, lowest * 0.8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotations", required=True, help="KAIST_annotation.json")
    parser.add_argument("--results", required=True, nargs="+", help="result .txt files")
    parser.add_argument("--names", nargs="+", help="legend names (default: file stems)")
    parser.add_argument("--setting", default="reasonable", choices=sorted(SETTINGS))
    parser.add_argument("--output", required=True, help="PNG to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = [Path(p) for p in args.results]
    names = args.names or [method_name(p) for p in paths]
    if len(names) != len(paths) or len(set(names)) != len(names):
        print("error: give one distinct --names entry per result file", file=sys.stderr)
        return 2
    settings = {args.setting: SETTINGS[args.setting]}
    try:
        records = kaist_json_records(args.annotations)
        truths, subsets = ground_truth(records, dataset=args.annotations)
        curves = {
            name: evaluate_miss_rate(truths, read_results(path, len(records)), subsets, settings)[
                args.setting
            ]
            for name, path in zip(names, paths, strict=True)
        }
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(plot(curves, args.setting, Path(args.output)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
