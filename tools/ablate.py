#!/usr/bin/env python
"""Run the GAFF ablation study (README.md, "The ablation study"): phase 1 (8 stage
sets), then phase 2 (the top-k stage sets on validation AP × 8 hyper-parameter
combinations); or, with ``--study fusion``, the fusion-method comparison (one experiment
per configs/fusion/*.yaml method, all fusing the same stages), or ``--study modality``
(configs/fusion/modality/*.yaml). Each experiment is one ``tools/train_net.py`` process;
rerunning the same command continues a killed study.

    python tools/ablate.py --data DIR --labels DIR --output-base results/gaff_ablations_full
    python tools/ablate.py ... --phase 1 --dry-run
    python tools/ablate.py ... --phase 2 --top-k-from s3,s23,s34
    python tools/ablate.py ... --gpus 0,1,2,3 --seeds 3
    python tools/ablate.py ... --launcher slurm --partition gpu --timeout-min 600 --max-jobs 8
    python tools/ablate.py ... --study fusion [--fusion-stages 3] [--only exp_104]

Exit codes: 0 all runs finished, 1 some run FAILED (recorded, the study went on),
2 usage or plan error (one ``error:`` line), 130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from projects_gaff.run_files import EXPERIMENT_ID, GAFF_CODE
from projects_gaff.study.comparison import COMPARISONS, DEFAULT_STAGES, STUDIES
from projects_gaff.study.dry_run import plan_table
from projects_gaff.study.executors import MIN_TIMEOUT_MIN, SlurmOptions
from projects_gaff.study.options import StudyError, StudyOptions
from projects_gaff.study.plan import (
    STAGE_SETS,
    matches,
    parse_stage_label,
    parse_stages,
    phase1_plan,
)
from projects_gaff.study.runner import Study

REPO_ROOT = Path(__file__).resolve().parents[1]
_ONLY_GAFF = re.compile(rf"^exp_\d{{3}}(_{GAFF_CODE})?$")
_ONLY_COMPARISON = re.compile(r"^exp_\d{3}(_\w+)?$")


def _list(text: str) -> list[str]:
    return [item for item in text.replace(",", " ").split() if item]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _stages(text: str) -> tuple[int, ...]:
    try:
        return parse_stages(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    study = parser.add_argument_group("study")
    study.add_argument(
        "--study", choices=["gaff", *COMPARISONS], default="gaff",
        help="gaff: the two-phase GAFF study; fusion: one run per fusion method; "
        "modality: one run per modality set (README, 'Comparison studies')",
    )  # fmt: skip
    study.add_argument(
        "--fusion-stages", type=_stages, metavar="23",
        help="stages every method of --study fusion/modality fuses (default 23; e.g. 3, 2,3)",
    )  # fmt: skip
    study.add_argument("--phase", choices=["1", "2", "all"], default="all", help="GAFF study")
    study.add_argument("--top-k", type=int, default=3, help="phase-1 configs taken to phase 2")
    study.add_argument(
        "--top-k-from", type=_list, default=[], metavar="S3,S23,...",
        help="name phase 2's stage configs instead of ranking a complete phase 1",
    )  # fmt: skip
    study.add_argument(
        "--select-on", choices=["val", "test"], default="val",
        help="split that ranks phase 1 (test leaks the test set into model selection)",
    )  # fmt: skip
    study.add_argument("--seeds", type=int, default=1, help="seeds per configuration (0 … N-1)")
    study.add_argument(
        "--only", type=_list, action="extend", default=[], metavar="EXP",
        help="run only these experiments (exp_003, exp_003_s3_r4_is0_mb0, exp_101_none; "
        "repeatable)",
    )  # fmt: skip
    study.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    study.add_argument("--output-base", type=Path, default=Path("results/gaff_ablations_full"))

    train = parser.add_argument_group("training (Detectron2 options of every run)")
    train.add_argument(
        "--config", type=Path, default=REPO_ROOT / "configs" / "Base-GAFF-RCNN-FPN.yaml"
    )
    train.add_argument("--backbone", help="MODEL.MIT.NAME (mit_b0 … mit_b5)")
    train.add_argument("--epochs", type=int, help="SOLVER.EPOCHS")
    train.add_argument("--batch-size", type=int, help="SOLVER.IMS_PER_BATCH (all GPUs of a run)")
    train.add_argument("--lr", type=float, help="SOLVER.BASE_LR")
    train.add_argument("--data", help="folder of .npy frames (DATASETS.GAFF.IMAGES)")
    train.add_argument("--labels", help="folder of YOLO labels (DATASETS.GAFF.LABELS)")
    train.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE pairs for every run")

    where = parser.add_argument_group("where runs execute")
    where.add_argument(
        "--launcher", choices=["subprocess", "local", "slurm"], default="subprocess",
        help="child processes here, submitit's LocalExecutor, or SLURM via submitit",
    )  # fmt: skip
    where.add_argument(
        "--gpus", type=_list, default=[], metavar="0,1,2,3",
        help="run one experiment per listed GPU at a time (CUDA_VISIBLE_DEVICES)",
    )  # fmt: skip
    where.add_argument("--gpus-per-run", type=int, default=1, help="GPUs of one run (DDP)")
    where.add_argument("--partition", help="SLURM partition")
    where.add_argument(
        "--timeout-min", type=int, default=24 * 60, help="job time limit in minutes (at least 2)"
    )
    where.add_argument("--cpus-per-run", type=int, help="CPUs of one SLURM job")
    where.add_argument("--mem-gb", type=float, help="memory of one SLURM job")
    where.add_argument("--account", help="SLURM account")
    where.add_argument("--qos", help="SLURM quality of service")
    where.add_argument(
        "--max-jobs", type=_positive, help="SLURM jobs of the study queued or running at once"
    )
    where.add_argument(
        "--max-requeues", type=int, default=3,
        help="times a SLURM job at its time limit requeues itself to resume",
    )  # fmt: skip
    return parser


def options_from_args(args: argparse.Namespace) -> StudyOptions:
    mapped = [
        ("MODEL.MIT.NAME", args.backbone), ("SOLVER.EPOCHS", args.epochs),
        ("SOLVER.IMS_PER_BATCH", args.batch_size), ("SOLVER.BASE_LR", args.lr),
        ("DATASETS.GAFF.IMAGES", args.data), ("DATASETS.GAFF.LABELS", args.labels),
    ]  # fmt: skip
    opts = [
        *args.opts,
        *(x for key, value in mapped if value is not None for x in (key, str(value))),
    ]
    return StudyOptions(
        output_base=args.output_base,
        config_file=args.config,
        train_script=REPO_ROOT / "tools" / "train_net.py",
        phase=args.phase,
        top_k=args.top_k,
        top_k_from=tuple(args.top_k_from),
        select_on=args.select_on,
        only=tuple(args.only),
        seeds=args.seeds,
        opts=tuple(opts),
        launcher=args.launcher,
        gpus=tuple(args.gpus),
        study=args.study,
        fusion_stages=args.fusion_stages,
        # the SLURM flags are named as SlurmOptions' fields
        resources=SlurmOptions(**{f.name: getattr(args, f.name) for f in fields(SlurmOptions)}),
    )


def check_options(o: StudyOptions) -> None:
    """Refuse options that cannot make a study, with one line naming the flag and the fix
    (``StudyError``, exit code 2). The folder-dependent checks are the runner's."""
    if o.study not in STUDIES:
        raise StudyError(f"--study must be one of {', '.join(STUDIES)}, not {o.study!r}")
    checks = [
        (o.phase in ("1", "2", "all"), f"--phase must be 1, 2 or all, not {o.phase!r}"),
        (1 <= o.top_k <= len(STAGE_SETS), f"--top-k must be 1 … {len(STAGE_SETS)}"),
        (o.seeds >= 1, "--seeds must be at least 1"),
        (o.select_on in ("val", "test"), "--select-on must be val or test"),
        (o.launcher in ("subprocess", "local", "slurm"), f"unknown launcher {o.launcher}"),
        (len(set(o.gpus)) == len(o.gpus), f"--gpus lists a GPU twice: {o.gpus}"),
        (
            not (o.gpus and o.launcher == "slurm"),
            "--gpus lists this machine's GPUs; SLURM jobs take --gpus-per-run",
        ),
        (
            o.launcher != "slurm" or o.resources.timeout_min >= MIN_TIMEOUT_MIN,
            f"--timeout-min {o.resources.timeout_min}: at least {MIN_TIMEOUT_MIN} on SLURM, "
            "which may send its time-limit warning up to 60 s early, before a job can catch it",
        ),
        (len(o.opts) % 2 == 0, f"options must be KEY VALUE pairs: {list(o.opts)}"),
        (o.config_file.is_file(), f"config file {o.config_file} not found"),
        (o.train_script.is_file(), f"train script {o.train_script} not found"),
    ]
    for ok, message in checks:
        if not ok:
            raise StudyError(message)
    reserved = [k for k in o.opts[::2] if k in o.plan_keys]
    if o.phased:
        _check_gaff(o, reserved)
    else:
        _check_comparison(o, reserved)


def _check_gaff(o: StudyOptions, reserved: list[str]) -> None:
    if o.fusion_stages is not None:
        raise StudyError("--fusion-stages is for --study fusion or modality")
    if reserved:
        raise StudyError(
            f"{', '.join(reserved)} is set for each run by the plan (stages and GAFF "
            "options by the experiment, SEED by --seeds, OUTPUT_DIR by --output-base)"
        )
    bad = [item for item in o.only if not _ONLY_GAFF.match(item)]
    if bad:
        raise StudyError(f"--only takes exp_NNN or full experiment names, not {bad}")
    number = {item: int(EXPERIMENT_ID.match(item)["number"]) for item in o.only}
    phase1 = len(STAGE_SETS)
    phase1_names = {n for e in phase1_plan() for n in (e.name, e.exp_id)}
    wrong = [i for i in o.only if number[i] <= phase1 and i not in phase1_names]
    if wrong:
        raise StudyError(f"--only {wrong}: no such phase-1 experiment")
    if o.phase == "1" and any(n > phase1 for n in number.values()):
        raise StudyError("--only names phase-2 experiments but --phase is 1")
    for label in o.top_k_from:
        try:
            parse_stage_label(label)
        except ValueError as error:
            raise StudyError(f"--top-k-from: {error}") from None


def _check_comparison(o: StudyOptions, reserved: list[str]) -> None:
    flags = [
        (o.phase != "all", "--phase"),
        (bool(o.top_k_from), "--top-k-from"),
        (o.top_k != 3, "--top-k"),
        (o.select_on != "val", "--select-on"),
    ]
    used = [flag for given, flag in flags if given]
    if used:
        raise StudyError(f"{', '.join(used)}: GAFF-study options, not for --study {o.study}")
    stages = o.fusion_stages or DEFAULT_STAGES
    if list(stages) != sorted(set(stages)) or not set(stages) <= {1, 2, 3, 4}:
        raise StudyError(f"--fusion-stages {list(stages)}: distinct MiT stages 1-4, sorted")
    if reserved:
        raise StudyError(
            f"{', '.join(reserved)} is set for each run by the plan (the fused stages by "
            "--fusion-stages, the method's keys by the method, SEED by --seeds, "
            "OUTPUT_DIR by --output-base)"
        )
    bad = [item for item in o.only if not _ONLY_COMPARISON.match(item)]
    if bad:
        raise StudyError(f"--only takes exp_NNN or full experiment names, not {bad}")
    plan = o.experiments()
    unknown = [i for i in o.only if not any(matches(e, [i]) for e in plan)]
    if unknown:
        names = ", ".join(e.name for e in plan)
        raise StudyError(f"--only {unknown}: not in the {o.study} study ({names})")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `kill` or a time limit stops like Ctrl-C: trainings stopped (they resume on the next
    # run), summary written, lock released.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        options = options_from_args(args)
        check_options(options)
        study = Study(options, echo=lambda line: tqdm.write(line, file=sys.stderr))
        if args.dry_run:
            print(plan_table(study))
            return 0
        return study.run()
    except StudyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
