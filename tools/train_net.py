#!/usr/bin/env python
"""Train (or evaluate) one GAFF experiment.

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

from detectron2.engine import default_argument_parser, launch
from detectron2.utils import comm

from projects_gaff.atomic import atomic_write_json
from projects_gaff.data import DatasetError
from projects_gaff.engine import GAFFTrainer, evaluate_splits, setup_cfg, setup_run
from projects_gaff.engine.checkpoint import StudyCheckpointer


def main(args) -> dict | None:
    cfg = setup_cfg(args.config_file, args.opts)
    setup_run(cfg, args)
    if args.eval_only:
        model = GAFFTrainer.build_model(cfg)
        StudyCheckpointer(model).load(cfg.MODEL.WEIGHTS)
        results = evaluate_splits(cfg, model)
        if comm.is_main_process():
            atomic_write_json(os.path.join(cfg.OUTPUT_DIR, "eval_results.json"), results)
        return results
    trainer = GAFFTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def run(argv: list[str] | None = None) -> int:
    args = default_argument_parser().parse_args(argv)
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except (KeyError, ValueError, FileNotFoundError, DatasetError, FloatingPointError) as error:
        # Config and data mistakes: one clear line for the user, the traceback in the log.
        logging.getLogger("projects_gaff").exception("run failed")
        message = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
        # A DataLoader worker's error arrives wrapped in its traceback: keep the last line.
        print(f"error: {message.strip().splitlines()[-1]}", file=sys.stderr)
        return 2 if not isinstance(error, FloatingPointError) else 3
    return 0


if __name__ == "__main__":
    sys.exit(run())
