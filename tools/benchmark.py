#!/usr/bin/env python
r"""Measure speed and memory of study configurations; write benchmark.csv + benchmark.md.

    # CPU (mit_b0, frames of 320x400, item 1 = step_ratio of the second row):
    python tools/benchmark.py --configs configs/baseline_nofusion.yaml configs/gaff_s23.yaml \\
        --output output/benchmark -- MODEL.DEVICE cpu MODEL.MIT.NAME mit_b0 SOLVER.IMS_PER_BATCH 2
    # GPU (item 4: mit_b1 s23, AMP bf16 on and off):
    python tools/benchmark.py --configs configs/gaff_s23.yaml --amp both --infer-batch 16 \\
        --output output/benchmark_gpu -- MODEL.DEVICE cuda
    # torch.compile of the encoder against eager (--compile both), interleaved:
    python tools/benchmark.py --configs configs/gaff_s23.yaml --compile both --warmup 3 \\
        --output output/benchmark_compile -- MODEL.DEVICE cuda

Columns: parameters, GFLOPs (fvcore), training images/s after warm-up and the step-time
ratio to the first config, inference latency and FPS at batch 1 and --infer-batch, peak
memory, and the projected training time of the whole study. --fp32-matmul adds the
backbone's achieved GFLOP/s against this device's fp32 matmul; --breakdown times the parts
of a training step and writes the profiler's op table.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
from projects_gaff.benchmark import Settings, run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configs", nargs="+", required=True, help="config files; first = reference"
    )
    parser.add_argument("--output", required=True, help="folder for the CSV and markdown files")
    parser.add_argument("--size", nargs=2, type=int, default=(320, 400), metavar=("H", "W"))
    parser.add_argument("--infer-batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument(
        "--amp", choices=["config", "on", "off", "both"], default="config",
        help="SOLVER.AMP.ENABLED as configured, forced, or both variants (CUDA only)",
    )  # fmt: skip
    parser.add_argument(
        "--compile", choices=["config", "on", "off", "both"], default="config",
        help="MODEL.COMPILE.ENABLED (torch.compile of the encoder) likewise; the warm-up "
        "steps pay the compilation",
    )  # fmt: skip
    parser.add_argument(
        "--real-data", action="store_true", help="train on the config's loader, not synthetic"
    )
    parser.add_argument("--fp32-matmul", action="store_true", help="item 2: backbone vs matmul")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--breakdown", action="store_true", help="item 3: step breakdown")
    parser.add_argument("--breakdown-steps", type=int, default=5)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides after --")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    opts = args.opts[1:] if args.opts[:1] == ["--"] else args.opts
    given = {f.name: getattr(args, f.name) for f in fields(Settings) if hasattr(args, f.name)}
    given.update(
        opts=opts,
        output=Path(args.output),
        height=args.size[0],
        width=args.size[1],
        command=shlex.join(["python", "tools/benchmark.py", *(argv or sys.argv[1:])]),
    )
    settings = Settings(**given)
    files = run(settings)
    print(Path(files["markdown"]).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
