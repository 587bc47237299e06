"""The study's ``DefaultTrainer``: 5-channel data, epochs, validation, best model, results."""

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

from ..atomic import atomic_write_json
from ..data import GAFFDatasetMapper, build_gaff_augmentation, build_resumable_train_loader
from .checkpoint import BEST_NAME, StudyCheckpointer
from .compile import compile_backbone
from .evaluation import evaluate_coco, validation_loss
from .hooks import StudyHook
from .model_info import model_info
from .step import AccumulatingTrainer

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


class GAFFTrainer(DefaultTrainer):
    """Detectron2's ``DefaultTrainer`` for the study.

    ``cfg`` must already have ``SOLVER.ITERS_PER_EPOCH`` (see :func:`resolve_epochs`).
    Differences from the default: the 5-channel mapper, SGD or AdamW, gradient accumulation
    and bf16/fp16 autocast on CUDA, checkpoints under ``OUTPUT_DIR/checkpoints`` written
    atomically (two periodic ones kept, plus ``best_model.pth``), and :class:`StudyHook`
    in place of Detectron2's periodic evaluation.
    """

    def __init__(self, cfg: CfgNode):
        # DefaultTrainer.__init__, with the accumulating step and the atomic checkpointer.
        TrainerBase.__init__(self)
        if cfg.SOLVER.ITERS_PER_EPOCH <= 0:
            raise ValueError(
                "call projects_gaff.engine.resolve_epochs(cfg) before building the trainer"
            )
        check_class_count(cfg)
        cfg = self.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        # Drawn as Detectron2 draws it; saved in checkpoints so that a resume (even with
        # SEED -1) continues the same stream of frames.
        self._data_seed = comm.shared_random_seed()
        data_loader = self.build_train_loader(cfg, seed=self._data_seed)
        # On the CPU (gloo) DDP takes no device_ids; Detectron2's helper always passes some.
        cpu = {} if cfg.MODEL.DEVICE.startswith("cuda") else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **cpu)
        amp_dtype = AMP_DTYPES[cfg.SOLVER.AMP.DTYPE] if self._use_amp(cfg) else None
        self._trainer = AccumulatingTrainer(
            model, data_loader, optimizer, accum_steps=cfg.SOLVER.ACCUM_STEPS, amp_dtype=amp_dtype
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = StudyCheckpointer(
            model, os.path.join(cfg.OUTPUT_DIR, "checkpoints"), trainer=weakref.proxy(self)
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
        super().load_state_dict(state)
        self._data_seed = state.get("data_seed", self._data_seed)

    @staticmethod
    def _use_amp(cfg: CfgNode) -> bool:
        if cfg.SOLVER.AMP.DTYPE not in AMP_DTYPES:
            raise ValueError(
                f"SOLVER.AMP.DTYPE {cfg.SOLVER.AMP.DTYPE!r} is not one of {list(AMP_DTYPES)}"
            )
        return cfg.SOLVER.AMP.ENABLED and cfg.MODEL.DEVICE.startswith("cuda")

    # ---- builders ---------------------------------------------------------------
    @classmethod
    def build_model(cls, cfg: CfgNode) -> torch.nn.Module:
        """Detectron2's model, with the encoder compiled when MODEL.COMPILE.ENABLED."""
        return compile_backbone(super().build_model(cfg), cfg)

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        params = get_default_optimizer_params(
            model,
            base_lr=cfg.SOLVER.BASE_LR,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
            bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
            weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        )
        name = cfg.SOLVER.OPTIMIZER
        if name == "SGD":
            optimizer = torch.optim.SGD(
                params,
                lr=cfg.SOLVER.BASE_LR,
                momentum=cfg.SOLVER.MOMENTUM,
                nesterov=cfg.SOLVER.NESTEROV,
                weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            )
        elif name == "AdamW":
            optimizer = torch.optim.AdamW(
                params,
                lr=cfg.SOLVER.BASE_LR,
                betas=tuple(cfg.SOLVER.BETAS),
                weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            )
        else:
            raise ValueError(f"SOLVER.OPTIMIZER {name!r} is not one of ['SGD', 'AdamW']")
        return maybe_add_gradient_clipping(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode, start_iter: int = 0, seed: int | None = None):
        """Micro-batches of the 5-channel mapper, from where iteration ``start_iter`` of an
        uninterrupted run with shuffling seed ``seed`` would take them (None draws a seed as
        Detectron2 does; the trainer keeps it in its checkpoints).

        Exact, whatever the number of workers, ranks and accumulation steps, when the
        training frames share one orientation (all landscape, as in the guide's datasets);
        with mixed orientations Detectron2's aspect-ratio groups hold back a few frames,
        which the resumed run takes in a slightly different order.
        """
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
        return build_detection_test_loader(
            cfg, dataset_name, mapper=GAFFDatasetMapper(cfg, is_train=False)
        )

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

    def build_hooks(self) -> list:
        """Timer, LR schedule, the study hook (which also checkpoints: periodic files and
        best_model.pth in one step), and Detectron2's writers."""
        cfg = self.cfg
        study = StudyHook(
            cfg.SOLVER.ITERS_PER_EPOCH,
            cfg.TEST.EVAL_EPOCHS,
            cfg.SOLVER.CHECKPOINT_PERIOD,
            cfg.SOLVER.CHECKPOINTS_TO_KEEP,
        )
        ret = [hooks.IterationTimer(), hooks.LRScheduler(), study]
        if comm.is_main_process():
            ret.append(hooks.PeriodicWriter(self.build_writers(), period=20))
        return ret

    # ---- evaluation used by StudyHook -----------------------------------------------
    def validate(self) -> dict:
        """Validation loss and COCO metrics on DATASETS.VAL (empty dict without a val split)."""
        if not self.cfg.DATASETS.VAL:
            return {}
        name = self.cfg.DATASETS.VAL[0]
        if self._val_loaders is None:
            self._val_loaders = (
                self.build_val_loss_loader(self.cfg, name),
                self.build_test_loader(self.cfg, name),
            )
        loss_loader, coco_loader = self._val_loaders
        out_dir = os.path.join(self.cfg.OUTPUT_DIR, "inference", name)
        return {
            "loss": validation_loss(self.model, loss_loader, seed=self.cfg.SEED),
            "coco": evaluate_coco(self.model, coco_loader, name, out_dir),
        }

    def final_evaluation(self) -> dict:
        """Evaluate ``best_model.pth`` on the val and test splits."""
        best = os.path.join(self.checkpointer.save_dir, f"{BEST_NAME}.pth")
        comm.synchronize()  # rank 0 writes best_model.pth; the others wait for it
        StudyCheckpointer(self.model).load(best, checkpointables=[])
        return evaluate_splits(self.cfg, self.model)

    def train(self):
        if comm.is_main_process():
            os.makedirs(self.cfg.OUTPUT_DIR, exist_ok=True)
            atomic_write_json(
                os.path.join(self.cfg.OUTPUT_DIR, "model_info.json"),
                model_info(self.model, self.cfg),
            )
        return super().train()


def check_class_count(cfg: CfgNode) -> None:
    """The ROI heads must predict exactly the training set's classes."""
    classes = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("thing_classes", None)
    if classes is not None and len(classes) != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
        raise ValueError(
            f"{cfg.DATASETS.TRAIN[0]} has {len(classes)} classes {list(classes)} but "
            f"MODEL.ROI_HEADS.NUM_CLASSES is {cfg.MODEL.ROI_HEADS.NUM_CLASSES}; "
            f"set it to {len(classes)}"
        )


def evaluate_splits(cfg: CfgNode, model: torch.nn.Module) -> dict:
    """COCO metrics (and inference FPS) of ``model`` on DATASETS.VAL and DATASETS.TEST."""
    results = {}
    for split, names in (("val", cfg.DATASETS.VAL), ("test", cfg.DATASETS.TEST)):
        for name in names:
            loader = GAFFTrainer.build_test_loader(cfg, name)
            key = split if len(names) == 1 else f"{split}/{name}"
            results[key] = evaluate_coco(
                model, loader, name, os.path.join(cfg.OUTPUT_DIR, "inference", name)
            )
    test = results.get("test", {})
    results["inference_fps"] = test.get("inference_fps")
    return results
