"""Config keys added by projects_gaff (Detectron2's ``add_*_config`` convention)."""

from detectron2.config import CfgNode as CN

MIT_VARIANTS = ("mit_b0", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5")
INTER_MODES = ("separate", "shared", "tied")
UNFUSED_OUTPUTS = ("sum", "rgb")


def add_gaff_config(cfg: CN) -> None:
    """Add every projects_gaff key, with its default, to ``cfg`` (in place)."""
    # ---- two-stream MiT encoder -------------------------------------------------
    cfg.MODEL.MIT = CN()
    # SegFormer encoder size, one of mit_b0 ... mit_b5 (DESIGN_NOTES §4).
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
    # used) or "rgb" (the RGB stream alone).
    cfg.MODEL.MIT.UNFUSED_OUTPUT = "sum"

    # ---- GAFF fusion --------------------------------------------------------------
    cfg.MODEL.GAFF = CN()
    # Encoder stages (1-4) that fuse the two streams with a GAFF block. Empty list: the
    # no-fusion baseline. After a fused stage both streams continue from the fused map.
    cfg.MODEL.GAFF.STAGES = [2, 3]
    # Squeeze-and-excitation reduction ratio r of the intra-modality attention (r4, r8).
    cfg.MODEL.GAFF.SE_REDUCTION = 4
    # Inter-modality attention: "separate" (two 2C->C convs, is0), "shared" (one 2C->2C
    # conv split in two, is1) or "tied" (one 2C->C conv applied to both orderings).
    cfg.MODEL.GAFF.INTER_MODE = "separate"
    # Merge the guided features through a 2C->C->out bottleneck (mb1) instead of 2C->out.
    cfg.MODEL.GAFF.MERGE_BOTTLENECK = False
    # Channels of the fused map; 0 keeps the stage width C (required for the streams to
    # continue from the fused map, so only 0 or C are accepted).
    cfg.MODEL.GAFF.OUT_CHANNELS = 0
    # Normalisation in the merge: "BN" as the guide specifies, "SyncBN" for multi-GPU
    # statistics, or any other detectron2.layers.get_norm name (same parameter count).
    cfg.MODEL.GAFF.NORM = "BN"
