"""Config keys added by projects_gaff (Detectron2's ``add_*_config`` convention): keys and
defaults only; the modules that read a key check its value (``from projects_gaff import
add_gaff_config`` also registers the model, see ``projects_gaff/__init__.py``)."""

from detectron2.config import CfgNode as CN

# KAIST sets recorded by day, the others (set03-05, set09-11) by night: DAY_SETS' default,
# and the KAIST loaders' when called without a config (the miss-rate tools).
KAIST_DAY_SETS = ("set00", "set01", "set02", "set06", "set07", "set08")


def add_gaff_config(cfg: CN) -> None:
    """Add every projects_gaff key, with its default, to ``cfg`` (in place)."""

    # ---- two-stream MiT encoder -------------------------------------------------
    cfg.MODEL.MIT = CN()
    # SegFormer encoder size, one of mit_b0 ... mit_b5.
    cfg.MODEL.MIT.NAME = "mit_b1"
    # Stochastic depth rate reached by the last block (linearly increasing per block).
    cfg.MODEL.MIT.DROP_PATH_RATE = 0.1
    # Local ImageNet weights for both streams: an NVlabs ``mit_bX.pth`` or a Hugging Face
    # ``nvidia/mit-bX`` ``pytorch_model.bin`` / ``model.safetensors``. Empty: random init.
    # (Detectron2's MODEL.WEIGHTS stays for whole-detector checkpoints.)
    cfg.MODEL.MIT.WEIGHTS = ""
    # Names of the channels after R, G, B that feed the auxiliary stream, in input order.
    # Their number must equal len(MODEL.PIXEL_MEAN) - 3.
    cfg.MODEL.MIT.AUX_CHANNELS = ["thermal", "event"]
    # FPN input at stages without fusion: "sum" (rgb + aux, so the aux stream is always
    # used), "rgb" (the RGB stream alone) or "aux" (the aux stream alone). A stream whose
    # output is never used stops after the last fused stage: with no fusion, "rgb" is an
    # RGB-only model and "aux" one without RGB (its input channels are ignored).
    cfg.MODEL.MIT.UNFUSED_OUTPUT = "sum"
    # Gradient checkpointing of the MiT blocks (timm's ``set_grad_checkpointing``): their
    # activations are recomputed in the backward pass instead of kept, trading compute
    # for GPU memory. Same losses and gradients either way.
    cfg.MODEL.MIT.GRAD_CHECKPOINT = False

    # ---- the GAFF block (MODEL.FUSION.TYPE "gaff" or "gated") -------------------------
    cfg.MODEL.GAFF = CN()
    # Old name of MODEL.FUSION.STAGES, still accepted (with a deprecation warning) so that
    # configs and command lines written before keep working. None: not set.
    cfg.MODEL.GAFF.STAGES = None
    # Squeeze-and-excitation reduction ratio r of the intra-modality attention (r4, r8).
    cfg.MODEL.GAFF.SE_REDUCTION = 4
    # Per-stage r: empty, or one value per MiT stage 1-4, e.g. [2, 4, 8, 16]; overrides
    # SE_REDUCTION at the fused stages.
    cfg.MODEL.GAFF.STAGE_SE_REDUCTIONS = []
    # False: GAFF-Lite, no SE; the guided maps are x + w * x_other.
    cfg.MODEL.GAFF.USE_SE = True
    # Inter-modality attention: "separate" (two 2C->C convs, is0), "shared" (one 2C->2C
    # conv split in two, is1) or "tied" (one 2C->C conv applied to both orderings).
    cfg.MODEL.GAFF.INTER_MODE = "separate"
    # Scale each cross-modal term by a learnable scalar (initialised 1):
    # x_se + alpha * w * x_other.
    cfg.MODEL.GAFF.LEARNABLE_ALPHA = False
    # Merge the guided features through a 2C->C->out bottleneck (mb1) instead of 2C->out.
    cfg.MODEL.GAFF.MERGE_BOTTLENECK = False
    # Channels of the fused map the FPN gets at a "gaff" stage; 0 keeps
    # the stage width C. Any other width adds a 1x1 conv + norm back to C, from which both
    # streams continue. Not allowed with "gated" fusion (the gate blends with x_rgb).
    cfg.MODEL.GAFF.OUT_CHANNELS = 0
    # Normalisation in the merge: "BN" as the guide specifies, "SyncBN" for multi-GPU
    # statistics, or any other detectron2.layers.get_norm name (same parameter count).
    cfg.MODEL.GAFF.NORM = "BN"
    # Weight of the WACV 2021 paper's guidance loss (logged as loss_guidance): the
    # inter-modality gates, averaged over channels, learn the ground-truth box masks at
    # each fused GAFF stage. 0: off. > 0 needs MODEL.META_ARCHITECTURE "GuidedRCNN".
    cfg.MODEL.GAFF.GUIDANCE_WEIGHT = 0.0

    # ---- torch.compile (opt-in; BENCHMARKS.md has the measured effect) -----------------
    cfg.MODEL.COMPILE = CN()
    # Compile the two-stream encoder (both MiT streams + fusion) with torch.compile, for
    # training, evaluation and GAFFPredictor. Static shapes: each padded input size is
    # compiled once (minutes on a CPU, on its first step).
    cfg.MODEL.COMPILE.ENABLED = False
    # torch.compile backend ("inductor"; "eager"/"aot_eager" only check the graph capture).
    cfg.MODEL.COMPILE.BACKEND = "inductor"
    # torch.compile mode (inductor only): "" (default), "reduce-overhead" (CUDA graphs;
    # each input size then holds its own static memory), "max-autotune", ...
    cfg.MODEL.COMPILE.MODE = ""

    # ---- fusion: where and how ------------------------------------------------------
    cfg.MODEL.FUSION = CN()
    # Encoder stages (1-4) that fuse the two streams. Empty list: the no-fusion baseline.
    # After a fused stage both streams continue from the fused map (unless LATE).
    cfg.MODEL.FUSION.STAGES = [2, 3]
    # How those stages fuse: "gaff" (the guide's block), "gated" (GAFF behind a learned
    # gate towards x_rgb), "add" (rgb + aux), "concat" (1x1 conv + norm over [rgb, aux]),
    # "cssa" (channel switching + spatial attention, Cao et al. 2023), "xattn" (each stream
    # attends to the other with the MiT stage's heads and spatial reduction, then concat)
    # or "none" (no stage fuses, whatever STAGES says).
    cfg.MODEL.FUSION.TYPE = "gaff"
    # False: both streams continue from the fused map (mid-level fusion, the guide's GAFF).
    # True: late fusion; the fused maps go to the FPN only and the streams run unfused
    # (with "concat": FPN-level late concatenation).
    cfg.MODEL.FUSION.LATE = False
    # Per-stage types: empty, or one type per MiT stage 1-4 (overrides TYPE; entries of
    # stages not in STAGES are ignored, "none" is only allowed there).
    cfg.MODEL.FUSION.STAGE_TYPES = []
    cfg.MODEL.FUSION.CSSA = CN()
    # A channel whose ECA score is below this is switched to the other modality's channel
    # (the earlier study compared 0.3, 0.5, 0.7).
    cfg.MODEL.FUSION.CSSA.THRESHOLD = 0.5
    # ECA's 1-D kernel size (odd); 0 picks ECA's adaptive size from the stage width.
    cfg.MODEL.FUSION.CSSA.KERNEL_SIZE = 0

    # ---- training schedule and study outputs ----------------------------------------
    # Train for this many epochs (passes over DATASETS.TRAIN); the iteration keys
    # (MAX_ITER, STEPS, CHECKPOINT_PERIOD) are then derived from the dataset length and
    # IMS_PER_BATCH. 0: use SOLVER.MAX_ITER / STEPS as given (Detectron2's usual way).
    cfg.SOLVER.EPOCHS = 0
    # Epochs at which the LR is multiplied by SOLVER.GAMMA (epoch mode, multi-step schedule).
    cfg.SOLVER.STEP_EPOCHS = []
    # Derived, not set by hand: iterations per epoch, written back by the trainer.
    cfg.SOLVER.ITERS_PER_EPOCH = 0
    # "SGD" (momentum SOLVER.MOMENTUM) or "AdamW" (betas SOLVER.BETAS).
    cfg.SOLVER.OPTIMIZER = "SGD"
    cfg.SOLVER.BETAS = (0.9, 0.999)
    # Gradient accumulation: each iteration sums gradients of this many micro-batches of
    # IMS_PER_BATCH / ACCUM_STEPS images, then takes one optimiser step.
    cfg.SOLVER.ACCUM_STEPS = 1
    # Autocast dtype when SOLVER.AMP.ENABLED on CUDA: "bfloat16" (no loss scaling needed)
    # or "float16" (with a gradient scaler). Ignored on the CPU, which trains in fp32.
    cfg.SOLVER.AMP.DTYPE = "bfloat16"
    # Periodic checkpoints kept on disk (besides best_model.pth and model_final.pth, which
    # are hard links: with 1 the folder holds the best and the last model only).
    cfg.SOLVER.CHECKPOINTS_TO_KEEP = 1
    # Validation split used for model selection (best checkpoint, phase-2 top-k); the
    # DATASETS.TEST split is evaluated once, at the end, with the best checkpoint.
    cfg.DATASETS.VAL = ()
    # Validate (val loss and val COCO AP) every this many epochs (epoch mode) ...
    cfg.TEST.EVAL_EPOCHS = 1
    # ... or, in iteration mode, every TEST.EVAL_PERIOD iterations (Detectron2's key).
    # Input size (H, W) at which model_info.json reports GFLOPs.
    cfg.TEST.FLOPS_INPUT_SIZE = (320, 416)

    # ---- data ---------------------------------------------------------------------
    # A user's dataset, named by the config alone: projects_gaff.data.register_datasets_
    # from_config(cfg) registers NAME_train, NAME_val, NAME_test and NAME_all. The demo set
    # (gaff_demo_train / _val / _test) is always registered. See datasets/README.md.
    cfg.DATASETS.GAFF = CN()
    # Prefix of the registered names; empty: register no user dataset.
    cfg.DATASETS.GAFF.NAME = ""
    # On-disk layout: "npy_yolo" (.npy frames + YOLO txt), "paired" (visible/ + infrared/
    # [+ event/] images with VOC XML or a COCO json) or "coco" (a COCO json whose images
    # carry one path per modality).
    cfg.DATASETS.GAFF.LAYOUT = "npy_yolo"
    # npy_yolo: folder of (H, W, 5) uint8 .npy frames, R G B thermal event (guide's --data).
    cfg.DATASETS.GAFF.IMAGES = ""
    # npy_yolo: folder of YOLO txt labels named like the frames (guide's --labels).
    cfg.DATASETS.GAFF.LABELS = ""
    # paired: the dataset folder; coco: the folder modality paths are relative to (empty:
    # the json's folder).
    cfg.DATASETS.GAFF.ROOT = ""
    # paired: names of the RGB, thermal and optional event folders.
    cfg.DATASETS.GAFF.RGB_DIR = "visible"
    cfg.DATASETS.GAFF.THERMAL_DIR = "infrared"
    cfg.DATASETS.GAFF.EVENT_DIR = "event"
    # paired: VOC XML folder or COCO json, relative to ROOT; coco: the multi-modal json.
    cfg.DATASETS.GAFF.ANNOTATIONS = "Annotations"
    # paired/coco: files named <prefix><number> in one folder are consecutive frames, used to
    # synthesise a missing event channel; False: non-sequential data, zero event channel.
    cfg.DATASETS.GAFF.SEQUENTIAL = True
    # Class names; label class ids (YOLO) and category names (VOC, COCO) map into this list.
    cfg.DATASETS.GAFF.CLASSES = ["person"]
    # Train / val / test fractions; [0.8, 0.2] is the guide's train / test without val.
    cfg.DATASETS.GAFF.SPLIT_FRACTIONS = [0.7, 0.1, 0.2]
    # Seed of the hash that places each frame (stable when files are added).
    cfg.DATASETS.GAFF.SPLIT_SEED = 0
    # "frame": split frames independently; "sequence": keep each sequence (folder + name
    # without its trailing number) in one split, so consecutive frames cannot leak.
    cfg.DATASETS.GAFF.SPLIT_BY = "frame"
    # Leave bad samples out (each one logged, then the count) instead of raising.
    cfg.DATASETS.GAFF.SKIP_BAD_SAMPLES = False
    # ---- KAIST layout and pedestrian benchmarks (datasets/README.md, "Pedestrian benchmarks")
    # LAYOUT "kaist": ROOT holds setXX/VYYY/{visible,lwir}; ANNOTATIONS is the bbGt v3 folder
    # or a KAIST_annotation.json (relative to ROOT); these image-set lists choose the frames:
    # NAME_train / NAME_val split TRAIN_SET by SPLIT_FRACTIONS' train:val ratio, NAME_test
    # is TEST_SET (in list order), annotated by TEST_ANNOTATIONS (empty: ANNOTATIONS).
    cfg.DATASETS.GAFF.KAIST = CN()
    cfg.DATASETS.GAFF.KAIST.TRAIN_SET = "imageSets/train-all-02.txt"
    cfg.DATASETS.GAFF.KAIST.TEST_SET = "imageSets/test-all-20.txt"
    cfg.DATASETS.GAFF.KAIST.TEST_ANNOTATIONS = ""
    # Sets recorded by day (record["daytime"] "day"); the others are night.
    cfg.DATASETS.GAFF.KAIST.DAY_SETS = list(KAIST_DAY_SETS)
    # Other layouts: frames whose key starts with this folder (LLVIP: "test", for
    # visible/test/...) are NAME_test, the others split into train / val as above; empty:
    # the seeded hash split of all frames.
    cfg.DATASETS.GAFF.TEST_FOLDER = ""
    # Evaluators run on val and test: "coco" (AP, AP50, ...) and "miss_rate" (MR_<setting>_
    # <subset>, log-average miss rate in %, lower is better; projects_gaff.evaluation) ...
    cfg.TEST.EVALUATORS = ["coco"]
    # ... and the metric that picks the best checkpoint and ranks runs (its direction comes
    # from projects_gaff.run_files.lower_is_better), e.g. "MR_reasonable_all" for KAIST.
    cfg.TEST.SELECT_METRIC = "AP"
    cfg.INPUT.GAFF = CN()
    # Let the shortest-edge resize enlarge frames smaller than MIN_SIZE_TRAIN/TEST.
    cfg.INPUT.GAFF.UPSCALE = False
    # Training only: probability of zeroing one modality (RGB or one of the aux channels,
    # chosen uniformly) of a sample, for robustness to a failed sensor.
    cfg.INPUT.GAFF.MODALITY_DROPOUT = 0.0
    # Event channel synthesised for samples without an event file: the modality the
    # simulated camera sees ("rgb" luminance or "thermal"), the log-contrast threshold per
    # event, and the image kind ("count" or "polarity").
    cfg.INPUT.GAFF.EVENT_SOURCE = "rgb"
    cfg.INPUT.GAFF.EVENT_THRESHOLD = 0.2
    cfg.INPUT.GAFF.EVENT_MODE = "count"
