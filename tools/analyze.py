#!/usr/bin/env python
r"""Analyse a GAFF ablation study: report.md plus PNG figures, with the stage-wise,
hyper-parameter and comparison tables filled, the hypotheses H1–H4 judged against the
measured seed noise, and a recommendation. Works on a partial study (it says what is
missing) and on the earlier implementation's ``summary_all_experiments.csv``.

    python tools/analyze.py --output-base results/gaff_ablations_full
    python tools/analyze.py --output-base results/gaff_ablations_full --out reports/gaff \
        --extra output/fusion          # baseline / CSSA runs kept elsewhere
    python tools/analyze.py --output-base old_results/summary_all_experiments.csv

Exit codes: 0 report written, 2 usage error (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from projects_gaff.analysis import analyse, load_results, write_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--output-base",
        type=Path,
        default=Path("results/gaff_ablations_full"),
        help="the study folder of tools/ablate.py, or a summary CSV of the earlier implementation",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for report.md and the PNGs (default: the study folder)"
    )
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="more run folders (or folders of run folders), e.g. the no-fusion baseline or "
        "CSSA; run folders below the study folder are found without it (repeatable)",
    )
    parser.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="split of the tables, effects and verdicts (rankings always use val when present)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        study = load_results(args.output_base, args.extra)
        analysis = analyse(study, args.split)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    base = args.output_base
    out = args.out or (base.parent if base.is_file() else base)
    report = write_report(analysis, out)
    print(f"report: {report}")
    for finding in analysis.findings:
        h, estimate = finding.hypothesis, finding.effect.estimate
        value = f"{estimate.value:+.3g}" if estimate else "n/a"
        print(f"  {h.code} {h.contrast}: {value} → {finding.verdict}")
    if study.missing:
        print(f"  {len(study.missing)} planned run(s) missing (listed in the report)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
