"""The study's ``DefaultTrainer``: 5-channel data, epochs, validation, best model."""

from __future__ import annotations

import os
import weakref

import torch
from detectron2.config import CfgNode
from detectron2.data import (
    MetadataCatalog,
    build_detection_test_loader,
    get_detection_dataset_dicts,
)
from detectron2.engine import DefaultTrainer, TrainerBase, create_ddp_model, hooks
from detectron2.solver import get_default_optimizer_params
from detectron2.solver.build import maybe_add_gradient_clipping
from detectron2.utils import comm
from detectron2.utils.events import CommonMetricPrinter

from ..atomic import atomic_write_json
from ..data import GAFFDatasetMapper, build_gaff_augmentation, build_resumable_train_loader
from ..run_files import CHECKPOINT_DIR, COCO_KEYS, MISS_RATE_PREFIX, MODEL_INFO
from .checkpoint import StudyCheckpointer
from .compile import compile_backbone
from .evaluation import (
    build_evaluator,
    build_test_loader,
    evaluate_detector,
    inference_dir,
    validation_loss,
)
from .hooks import (
    RNGState,
    StudyBestCheckpointer,
    StudyPeriodicCheckpointer,
    TrainingClock,
    ValidationHook,
    upgrade_hook_state,
)
from .model_info import model_info
from .normalisation_check import NormalisationCheck
from .step import AccumulatingTrainer
from .writers import ResumedJSONWriter, ResumedTensorboardWriter, StudyCsvWriter

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


class GAFFTrainer(DefaultTrainer):
    """``DefaultTrainer`` with the study's builders. ``__init__`` is rebuilt because the stock
    one's DDP wrapping refuses a CPU model, its loader comes before the data seed can be kept
    for an exact resume, and it fixes the step and checkpointer classes."""

    def __init__(self, cfg: CfgNode):
        TrainerBase.__init__(self)
        if cfg.SOLVER.ITERS_PER_EPOCH <= 0:
            raise ValueError(
                "call projects_gaff.engine.resolve_epochs(cfg) before building the trainer"
            )
        check_class_count(cfg)
        cfg = self.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        # Saved in checkpoints, so that a resume (even with SEED -1) continues the stream.
        self._data_seed = comm.shared_random_seed()
        data_loader = self.build_train_loader(cfg, seed=self._data_seed)
        cpu = {} if cfg.MODEL.DEVICE.startswith("cuda") else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **cpu)
        amp_dtype = AMP_DTYPES[cfg.SOLVER.AMP.DTYPE] if self._use_amp(cfg) else None
        self._trainer = AccumulatingTrainer(
            model, data_loader, optimizer, accum_steps=cfg.SOLVER.ACCUM_STEPS, amp_dtype=amp_dtype
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = StudyCheckpointer(
            model, os.path.join(cfg.OUTPUT_DIR, CHECKPOINT_DIR), trainer=weakref.proxy(self)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self._val_loaders = None
        self.register_hooks(self.build_hooks())

    def resume_or_load(self, resume: bool = True) -> None:
        """Detectron2's, except that the start iteration comes from the checkpoint actually
        restored (a corrupt last checkpoint falls back to the one before, or to scratch)."""
        self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume)
        self.start_iter = self.iter + 1 if self.checkpointer.resumed else 0
        if self.start_iter > 0:  # continue the killed run's stream of frames, not restart it
            self._trainer.reset_data_loader(
                lambda: self.build_train_loader(self.cfg, self.start_iter, self._data_seed)
            )

    def state_dict(self) -> dict:
        return {**super().state_dict(), "data_seed": self._data_seed}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(upgrade_hook_state(state))
        self._data_seed = state.get("data_seed", self._data_seed)

    @staticmethod
    def _use_amp(cfg: CfgNode) -> bool:
        if cfg.SOLVER.AMP.DTYPE not in AMP_DTYPES:
            raise ValueError(
                f"SOLVER.AMP.DTYPE {cfg.SOLVER.AMP.DTYPE!r} is not one of {list(AMP_DTYPES)}"
            )
        return cfg.SOLVER.AMP.ENABLED and cfg.MODEL.DEVICE.startswith("cuda")

    @classmethod
    def build_model(cls, cfg: CfgNode) -> torch.nn.Module:
        return compile_backbone(super().build_model(cfg), cfg)

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        solver = cfg.SOLVER
        params = get_default_optimizer_params(
            model,
            base_lr=solver.BASE_LR,
            weight_decay_norm=solver.WEIGHT_DECAY_NORM,
            bias_lr_factor=solver.BIAS_LR_FACTOR,
            weight_decay_bias=solver.WEIGHT_DECAY_BIAS,
        )
        choices = {
            "SGD": (torch.optim.SGD, {"momentum": solver.MOMENTUM, "nesterov": solver.NESTEROV}),
            "AdamW": (torch.optim.AdamW, {"betas": tuple(solver.BETAS)}),
        }
        if solver.OPTIMIZER not in choices:
            raise ValueError(f"SOLVER.OPTIMIZER {solver.OPTIMIZER!r} is not one of {list(choices)}")
        kind, options = choices[solver.OPTIMIZER]
        optimizer = kind(params, lr=solver.BASE_LR, weight_decay=solver.WEIGHT_DECAY, **options)
        return maybe_add_gradient_clipping(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode, start_iter: int = 0, seed: int | None = None):
        """The frames an uninterrupted run with ``seed`` would take from ``start_iter`` on
        (exact when all frames share one orientation: aspect-ratio grouping holds some back)."""
        if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
            raise ValueError(
                f"DATALOADER.SAMPLER_TRAIN {cfg.DATALOADER.SAMPLER_TRAIN!r}: projects_gaff "
                "trains with 'TrainingSampler' only (the sampler it can resume exactly)"
            )
        dataset = get_detection_dataset_dicts(
            cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
        )
        mapper = GAFFDatasetMapper(cfg, is_train=True)
        return build_resumable_train_loader(cfg, dataset, mapper, start_iter, seed)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str):
        return build_test_loader(cfg, dataset_name)

    @classmethod
    def build_val_loss_loader(cls, cfg: CfgNode, dataset_name: str):
        """Annotated frames at test-time geometry, no augmentation, for the validation loss."""
        mapper = GAFFDatasetMapper(
            cfg,
            is_train=True,
            augmentations=build_gaff_augmentation(cfg, is_train=False),
            modality_dropout=0.0,
        )
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None):
        return build_evaluator(cfg, dataset_name, output_folder)

    def build_hooks(self) -> list:
        """Order matters: validation, then the best-model decision, the CSV rows, and the
        periodic checkpoint (which then links best_model.pth)."""
        cfg = self.cfg
        check_select_metric(cfg)
        ipe = cfg.SOLVER.ITERS_PER_EPOCH
        eval_period = max(1, cfg.TEST.EVAL_EPOCHS) * ipe
        ret = [
            hooks.IterationTimer(),
            hooks.LRScheduler(),
            TrainingClock(),
            RNGState(),
            ValidationHook(eval_period, self.validate),
        ]
        if comm.is_main_process():
            ret.append(NormalisationCheck.from_config(cfg))  # warns when PIXEL_MEAN/STD misfit
            best = StudyBestCheckpointer(
                eval_period, self.checkpointer, cfg.TEST.SELECT_METRIC, ipe
            )
            csv = StudyCsvWriter(
                cfg.OUTPUT_DIR,
                ipe,
                self.max_iter,
                lambda: self.start_iter,
                COCO_KEYS if "coco" in cfg.TEST.EVALUATORS else (),
            )
            ret += [
                best,
                hooks.PeriodicWriter([csv], period=1),
                StudyPeriodicCheckpointer(
                    self.checkpointer,
                    cfg.SOLVER.CHECKPOINT_PERIOD,
                    cfg.SOLVER.CHECKPOINTS_TO_KEEP,
                    best,
                ),
                hooks.PeriodicWriter(self.build_writers(), period=20),
            ]
        return ret

    def build_writers(self) -> list:
        start = lambda: self.start_iter  # noqa: E731 (known only after resume_or_load)
        return [
            CommonMetricPrinter(self.max_iter),
            ResumedJSONWriter(self.cfg.OUTPUT_DIR, start),
            ResumedTensorboardWriter(self.cfg.OUTPUT_DIR, start),
        ]

    def validate(self) -> dict:
        """{"val": losses and metrics on DATASETS.VAL[0]}; {} without one, or off rank 0."""
        if not self.cfg.DATASETS.VAL:
            return {}
        name = self.cfg.DATASETS.VAL[0]
        if self._val_loaders is None:
            self._val_loaders = (
                self.build_val_loss_loader(self.cfg, name),
                self.build_test_loader(self.cfg, name),
            )
        loss_loader, metric_loader = self._val_loaders
        evaluator = self.build_evaluator(self.cfg, name, inference_dir(self.cfg, name))
        losses = validation_loss(self.model, loss_loader, seed=self.cfg.SEED)
        metrics = evaluate_detector(self.model, metric_loader, evaluator, name)
        if not comm.is_main_process():
            return {}
        values = {**losses, **metrics}
        not_metrics = ("frames", "inference_fps")
        return {"val": {k: v for k, v in values.items() if v is not None and k not in not_metrics}}

    def train(self):
        if comm.is_main_process():
            os.makedirs(self.cfg.OUTPUT_DIR, exist_ok=True)
            atomic_write_json(
                os.path.join(self.cfg.OUTPUT_DIR, MODEL_INFO), model_info(self.model, self.cfg)
            )
        return super().train()

    def hook(self, kind: type):
        """The hook of class ``kind`` (None on ranks that lack it)."""
        return next((h for h in self._hooks if isinstance(h, kind)), None)


def check_class_count(cfg: CfgNode) -> None:
    classes = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("thing_classes", None)
    if classes is not None and len(classes) != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
        raise ValueError(
            f"{cfg.DATASETS.TRAIN[0]} has {len(classes)} classes {list(classes)} but "
            f"MODEL.ROI_HEADS.NUM_CLASSES is {cfg.MODEL.ROI_HEADS.NUM_CLASSES}; "
            f"set it to {len(classes)}"
        )


def check_select_metric(cfg: CfgNode) -> None:
    metric, evaluators = cfg.TEST.SELECT_METRIC, list(cfg.TEST.EVALUATORS)
    source = "miss_rate" if metric.startswith(MISS_RATE_PREFIX) else "coco"
    if (source == "coco" and metric not in COCO_KEYS) or source not in evaluators:
        raise ValueError(
            f"TEST.SELECT_METRIC {metric!r} is not reported by TEST.EVALUATORS {evaluators}; "
            f"use one of {list(COCO_KEYS)} with 'coco', or an MR_* key with 'miss_rate'"
        )
