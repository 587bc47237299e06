#!/usr/bin/env python
r"""Score pedestrian-detection result files with the project's miss-rate evaluator.

    python tools/eval_miss_rate.py --annotations ../shared/data/kaist_eval/KAIST_annotation.json \
        --results ../shared/data/kaist_eval/MBNet_result.txt output/run/miss_rate_result.txt \
        --json mr.json

Prints a markdown table of MR⁻² (%, lower is better): one row per result file, columns
reasonable all / day / night first, then the other settings. ``--json`` writes the same
numbers (every MR_ and recall_ metric) keyed by the result file's stem. Result files hold
``image_index,x,y,w,h,score`` lines, index = the annotation's image id + 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
from projects_gaff.data import DatasetError
from projects_gaff.data.kaist import kaist_json_records
from projects_gaff.evaluation import SETTINGS, SUBSETS, evaluate_miss_rate, summarize
from projects_gaff.evaluation.evaluator import ground_truth
from projects_gaff.evaluation.miss_rate import metric_name
from projects_gaff.evaluation.result_files import read_results

FIRST = ("reasonable",)


def columns() -> list[tuple[str, str]]:
    """(setting, subset) pairs in table order: reasonable first, then the others."""
    order = [*FIRST, *(name for name in SETTINGS if name not in FIRST)]
    return [(setting, subset) for setting in order for subset in SUBSETS]


def markdown_table(scores: dict[str, dict[str, float | None]]) -> str:
    """One row per result file, one column per setting and subset, two decimals."""
    pairs = columns()
    header = ["method", *(f"{setting}_{subset}" for setting, subset in pairs)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, metrics in scores.items():
        values = [metrics[metric_name(setting, subset)] for setting, subset in pairs]
        cells = ["–" if v is None else f"{v:.2f}" for v in values]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotations", required=True, help="KAIST_annotation.json")
    parser.add_argument("--results", required=True, nargs="+", help="result .txt files")
    parser.add_argument("--json", help="write the metrics here, keyed by result-file stem")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        records = kaist_json_records(args.annotations)
        truths, subsets = ground_truth(records, dataset=args.annotations)
        scores, seconds = {}, 0.0
        for path in map(Path, args.results):
            detections = read_results(path, len(records))
            start = time.perf_counter()
            scores[path.stem] = summarize(evaluate_miss_rate(truths, detections, subsets))
            seconds += time.perf_counter() - start
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown_table(scores))
    print(f"\n{len(records)} frames; evaluation took {seconds:.2f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
