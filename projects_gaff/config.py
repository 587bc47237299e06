"""Config keys added by projects_gaff (Detectron2's ``add_*_config`` convention): keys and
defaults only; the modules that read a key check its value (``from projects_gaff import
add_gaff_config`` also registers the model, see ``projects_gaff/__init__.py``)."""

from detectron2.config import CfgNode as CN

# KAIST sets recorded by day, the others (set03-05, set09-11) by night: DAY_SETS' default,
# and the KAIST loaders' when called without a config (the miss-rate tools).
KAIST_DAY_SETS = ("set00", "set01", "set02", "set06", "set07", "set08")


def add_gaff_config(cfg: CN) -> None:
    """Add every projects_gaff key, with its default, to ``cfg`` (in place). README tables
    the model keys ("Config keys", "Fusion methods")."""

    # ---- two-stream MiT encoder -------------------------------------------------
    cfg.MODEL.MIT = CN()
    cfg.MODEL.MIT.NAME = "mit_b1"  # mit_b0 ... mit_b5
    cfg.MODEL.MIT.DROP_PATH_RATE = 0.1  # stochastic depth of the last block
    # Local ImageNet weights for both streams: an NVlabs ``mit_bX.pth`` or a Hugging Face
    # ``nvidia/mit-bX`` file. Empty: random init (MODEL.WEIGHTS is for whole detectors).
    cfg.MODEL.MIT.WEIGHTS = ""
    # Channels after R, G, B that feed the aux stream; len(MODEL.PIXEL_MEAN) = 3 + their number.
    cfg.MODEL.MIT.AUX_CHANNELS = ["thermal", "event"]
    # FPN input at unfused stages: "sum" (rgb + aux), "rgb" or "aux"; with "rgb"/"aux" the
    # other stream stops after the last fused stage (no fusion: a one-stream model).
    cfg.MODEL.MIT.UNFUSED_OUTPUT = "sum"
    # Recompute the MiT blocks in the backward pass: less GPU memory, same gradients.
    cfg.MODEL.MIT.GRAD_CHECKPOINT = False

    # ---- the GAFF block (MODEL.FUSION.TYPE "gaff" or "gated") -------------------------
    cfg.MODEL.GAFF = CN()
    # Old name of MODEL.FUSION.STAGES, still accepted with a deprecation warning. None: not set.
    cfg.MODEL.GAFF.STAGES = None
    # SE reduction ratio r (r4, r8); STAGE_SE_REDUCTIONS: empty, or r per MiT stage 1-4.
    cfg.MODEL.GAFF.SE_REDUCTION = 4
    cfg.MODEL.GAFF.STAGE_SE_REDUCTIONS = []
    cfg.MODEL.GAFF.USE_SE = True  # False: GAFF-Lite, x + w * x_other
    # Inter-modality gates: "separate" (two 2C->C convs, is0), "shared" (one 2C->2C conv
    # split in two, is1) or "tied" (one 2C->C conv applied to both orderings).
    cfg.MODEL.GAFF.INTER_MODE = "separate"
    cfg.MODEL.GAFF.LEARNABLE_ALPHA = False  # x_se + alpha * w * x_other, alpha from 1
    cfg.MODEL.GAFF.MERGE_BOTTLENECK = False  # mb1: merge 2C->C->out instead of 2C->out
    # Width of the fused map the FPN gets at a "gaff" stage; 0: the stage width C. Another
    # width adds a 1x1 conv + norm back to C for the streams. Not with "gated" fusion.
    cfg.MODEL.GAFF.OUT_CHANNELS = 0
    cfg.MODEL.GAFF.NORM = "BN"  # merge norm: "BN", "SyncBN", any detectron2 get_norm name
    # Weight of the GAFF paper's guidance loss (loss_guidance) on the gates; 0: off, > 0
    # needs MODEL.META_ARCHITECTURE "GuidedRCNN".
    cfg.MODEL.GAFF.GUIDANCE_WEIGHT = 0.0

    # ---- torch.compile (opt-in; BENCHMARKS.md has the measured effect) -----------------
    cfg.MODEL.COMPILE = CN()
    # Compile the two-stream encoder for training, evaluation and GAFFPredictor. Static
    # shapes: each padded input size is compiled once (minutes on a CPU).
    cfg.MODEL.COMPILE.ENABLED = False
    cfg.MODEL.COMPILE.BACKEND = "inductor"  # "eager"/"aot_eager" only check graph capture
    # torch.compile mode (inductor only): "" (default), "reduce-overhead" (CUDA graphs;
    # each input size then holds its own static memory), "max-autotune", ...
    cfg.MODEL.COMPILE.MODE = ""

    # ---- fusion: where and how ------------------------------------------------------
    cfg.MODEL.FUSION = CN()
    cfg.MODEL.FUSION.STAGES = [2, 3]  # MiT stages (1-4) that fuse; []: no-fusion baseline
    # "gaff", "gated", "add", "concat", "cssa", "xattn" (README, "Fusion methods") or
    # "none" (no stage fuses, whatever STAGES says).
    cfg.MODEL.FUSION.TYPE = "gaff"
    # True: late fusion, the fused maps go to the FPN only (the streams run on unfused).
    cfg.MODEL.FUSION.LATE = False
    # Empty, or one type per MiT stage 1-4 (overrides TYPE; entries of stages not in
    # STAGES are ignored, "none" is only allowed there).
    cfg.MODEL.FUSION.STAGE_TYPES = []
    cfg.MODEL.FUSION.CSSA = CN()
    # Channels whose ECA score is below this are switched (the earlier study: 0.3, 0.5, 0.7).
    cfg.MODEL.FUSION.CSSA.THRESHOLD = 0.5
    cfg.MODEL.FUSION.CSSA.KERNEL_SIZE = 0  # ECA's odd 1-D kernel; 0: adaptive to the width

    # ---- training schedule and study outputs ----------------------------------------
    # Train for this many epochs; MAX_ITER, STEPS and CHECKPOINT_PERIOD are then derived
    # from the dataset length and IMS_PER_BATCH. 0: SOLVER.MAX_ITER / STEPS as given.
    cfg.SOLVER.EPOCHS = 0
    cfg.SOLVER.STEP_EPOCHS = []  # epochs at which the LR is multiplied by SOLVER.GAMMA
    cfg.SOLVER.ITERS_PER_EPOCH = 0  # derived, written back by the trainer
    # "SGD" (momentum SOLVER.MOMENTUM) or "AdamW" (betas SOLVER.BETAS).
    cfg.SOLVER.OPTIMIZER = "SGD"
    cfg.SOLVER.BETAS = (0.9, 0.999)
    # Micro-batches of IMS_PER_BATCH / ACCUM_STEPS images whose gradients make one step.
    cfg.SOLVER.ACCUM_STEPS = 1
    # Autocast dtype with SOLVER.AMP.ENABLED on CUDA: "bfloat16" or "float16" (with a
    # gradient scaler). The CPU trains in fp32.
    cfg.SOLVER.AMP.DTYPE = "bfloat16"
    cfg.SOLVER.CHECKPOINTS_TO_KEEP = 1  # besides best_model.pth and model_final.pth
    # Validation split for model selection (best checkpoint, phase-2 top-k); DATASETS.TEST
    # is evaluated once, at the end, with the best checkpoint.
    cfg.DATASETS.VAL = ()
    # Validate (val loss and val COCO AP) every this many epochs (epoch mode) ...
    cfg.TEST.EVAL_EPOCHS = 1
    # ... or, in iteration mode, every TEST.EVAL_PERIOD iterations (Detectron2's key).
    cfg.TEST.FLOPS_INPUT_SIZE = (320, 416)  # (H, W) of model_info.json's GFLOPs

    # ---- data ---------------------------------------------------------------------
    # A user's dataset, named by the config alone: projects_gaff.data.register_datasets_
    # from_config(cfg) registers NAME_train, NAME_val, NAME_test and NAME_all. The demo set
    # (gaff_demo_train / _val / _test) is always registered. See datasets/README.md.
    cfg.DATASETS.GAFF = CN()
    cfg.DATASETS.GAFF.NAME = ""  # prefix of the registered names; empty: no user dataset
    # On-disk layout (datasets/README.md): "npy_yolo", "paired", "coco" or "kaist".
    cfg.DATASETS.GAFF.LAYOUT = "npy_yolo"
    # npy_yolo: folder of (H, W, 5) uint8 .npy frames, R G B thermal event (guide's --data).
    cfg.DATASETS.GAFF.IMAGES = ""
    # npy_yolo: folder of YOLO txt labels named like the frames (guide's --labels).
    cfg.DATASETS.GAFF.LABELS = ""
    # paired: the dataset folder; coco: the base of modality paths (empty: the json's folder).
    cfg.DATASETS.GAFF.ROOT = ""
    # paired: names of the RGB, thermal and optional event folders.
    cfg.DATASETS.GAFF.RGB_DIR = "visible"
    cfg.DATASETS.GAFF.THERMAL_DIR = "infrared"
    cfg.DATASETS.GAFF.EVENT_DIR = "event"
    # paired: VOC XML folder or COCO json, relative to ROOT; coco: the multi-modal json.
    cfg.DATASETS.GAFF.ANNOTATIONS = "Annotations"
    # paired/coco: <prefix><number> files are consecutive frames, from which a missing
    # event channel is synthesised; False: non-sequential data, zero event channel.
    cfg.DATASETS.GAFF.SEQUENTIAL = True
    # Class names; label class ids (YOLO) and category names (VOC, COCO) map into this list.
    cfg.DATASETS.GAFF.CLASSES = ["person"]
    # Train / val / test fractions; [0.8, 0.2] is the guide's train / test without val.
    cfg.DATASETS.GAFF.SPLIT_FRACTIONS = [0.7, 0.1, 0.2]
    cfg.DATASETS.GAFF.SPLIT_SEED = 0  # of the hash that places each frame
    # "frame" or "sequence" (folder + name without its number stays in one split).
    cfg.DATASETS.GAFF.SPLIT_BY = "frame"
    cfg.DATASETS.GAFF.SKIP_BAD_SAMPLES = False  # leave bad samples out (logged), not raise
    # ---- KAIST layout and pedestrian benchmarks (datasets/README.md, "Pedestrian benchmarks")
    # LAYOUT "kaist": image-set lists of NAME_train + NAME_val (split by SPLIT_FRACTIONS'
    # train:val ratio) and NAME_test, annotated by TEST_ANNOTATIONS (empty: ANNOTATIONS).
    cfg.DATASETS.GAFF.KAIST = CN()
    cfg.DATASETS.GAFF.KAIST.TRAIN_SET = "imageSets/train-all-02.txt"
    cfg.DATASETS.GAFF.KAIST.TEST_SET = "imageSets/test-all-20.txt"
    cfg.DATASETS.GAFF.KAIST.TEST_ANNOTATIONS = ""
    cfg.DATASETS.GAFF.KAIST.DAY_SETS = list(KAIST_DAY_SETS)  # the others are night
    # Other layouts: frames under this folder (LLVIP: "test") are NAME_test, the others
    # split into train / val; empty: the seeded hash split of all frames.
    cfg.DATASETS.GAFF.TEST_FOLDER = ""
    # Evaluators on val and test: "coco" (AP, AP50, ...) and "miss_rate" (MR_<setting>_
    # <subset>, in %, lower is better) ...
    cfg.TEST.EVALUATORS = ["coco"]
    # ... and the metric that picks the best checkpoint and ranks runs (direction:
    # run_files.lower_is_better), e.g. "MR_reasonable_all" for KAIST.
    cfg.TEST.SELECT_METRIC = "AP"
    cfg.INPUT.GAFF = CN()
    cfg.INPUT.GAFF.UPSCALE = False  # let the resize enlarge frames below MIN_SIZE_TRAIN/TEST
    # Training only: probability of zeroing one modality (chosen uniformly) of a sample.
    cfg.INPUT.GAFF.MODALITY_DROPOUT = 0.0
    # Synthesised event channel (no event file): what the camera sees ("rgb" or "thermal"),
    # the log-contrast threshold per event, the image kind ("count" or "polarity").
    cfg.INPUT.GAFF.EVENT_SOURCE = "rgb"
    cfg.INPUT.GAFF.EVENT_THRESHOLD = 0.2
    cfg.INPUT.GAFF.EVENT_MODE = "count"
