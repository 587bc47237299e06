#!/usr/bin/env python
r"""Train (or evaluate) one GAFF experiment.

    python tools/train_net.py --config-file configs/gaff_s23.yaml
    python tools/train_net.py --config-file configs/gaff_s23.yaml --resume
    python tools/train_net.py --config-file configs/gaff_s23.yaml --eval-only \
        MODEL.WEIGHTS output/gaff_s23_r4_is0_mb0/checkpoints/best_model.pth
    python tools/train_net.py --config-file configs/gaff_s23.yaml --num-gpus 4

Writes into OUTPUT_DIR: training.log, config.yaml, config.json, splits.json,
model_info.json, metrics_per_batch.csv, metrics_per_epoch.csv, metrics.json, TensorBoard
events, checkpoints/ (periodic + best_model.pth) and, once finished, final_results.json.
"""

from __future__ import annotations

import logging
import os
import sys

import projects_gaff.known_warnings  # noqa: F401  (before Detectron2, whose imports warn)

# isort: split
from detectron2.engine import default_argument_parser, launch
from detectron2.utils import comm

from projects_gaff.atomic import atomic_write_json
from projects_gaff.data import DatasetError
from projects_gaff.engine import (
    GAFFTrainer,
    StudyCheckpointer,
    evaluate_splits,
    setup_cfg,
    setup_run,
    write_final_results,
)
from projects_gaff.engine.setup import FILE_ONLY
from projects_gaff.run_files import EVAL_RESULTS, EXIT_CONFIG_ERROR, EXIT_NONFINITE_LOSS


def main(args) -> dict | None:
    cfg = setup_cfg(args.config_file, args.opts)
    setup_run(cfg, args)
    if args.eval_only:
        model = GAFFTrainer.build_model(cfg)
        StudyCheckpointer(model).load(cfg.MODEL.WEIGHTS)
        results = evaluate_splits(cfg, model)
        if comm.is_main_process():
            atomic_write_json(os.path.join(cfg.OUTPUT_DIR, EVAL_RESULTS), results)
        return results
    trainer = GAFFTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    trainer.train()
    # As Detectron2's train_net.py tests after training: here the best checkpoint.
    return write_final_results(trainer)


def log_traceback(what: str) -> None:
    """Into training.log once the run's logging is set up; never onto the console alone."""
    logger = logging.getLogger("projects_gaff")
    if logger.handlers:
        logger.exception(what, extra=FILE_ONLY)


def parse_args(argv: list[str] | None = None):
    """Detectron2's arguments, plus --overwrite."""
    parser = default_argument_parser()
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in OUTPUT_DIR even though it holds another run's results (with a "
        "different config), removing them; without it such a folder is refused",
    )
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except FloatingPointError as error:
        # Detectron2 stops on a NaN/inf loss or prediction; no result files are written.
        log_traceback("training diverged")
        print(
            f"error: training diverged: {' '.join(str(error).split())} The last good checkpoint "
            "is kept: lower SOLVER.BASE_LR (or check the data) and rerun with --resume.",
            file=sys.stderr,
        )
        return EXIT_NONFINITE_LOSS
    except (KeyError, ValueError, FileNotFoundError, DatasetError) as error:
        # Config and data mistakes: one clear message for the user, the traceback in the log.
        log_traceback("run failed")
        message = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
        if "Traceback (most recent call last)" in message:
            # A DataLoader worker's error arrives wrapped in its traceback: keep the last line.
            message = message.strip().splitlines()[-1]
        print(f"error: {message.strip()}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(run())
