"""Two-stream MiT backbone with GAFF fusion at the configured stages, behind an FPN."""

from __future__ import annotations

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from torch import nn

from .config import INTER_MODES, MIT_VARIANTS, UNFUSED_OUTPUTS
from .gaff import GAFFBlock
from .mit import MIT_SPECS, STAGE_STRIDES, MixVisionTransformer
from .weights import load_mit_weights

STAGE_NAMES = ("stage1", "stage2", "stage3", "stage4")


class TwoStreamMiT(Backbone):
    """RGB and auxiliary MiT streams (separate weights) fused by GAFF at chosen stages.

    The input is the normalised (B, 3 + N, H, W) tensor: R, G, B, then N auxiliary channels.
    At a fused stage both streams continue from the fused map; at other stages they pass
    through unfused and the output is ``rgb + aux`` (``unfused_output="sum"``) or ``rgb``.
    With ``"rgb"`` the auxiliary stream is built only up to the last fused stage, since
    later stages of it would never reach the output (no fusion: an RGB-only model).
    """

    def __init__(
        self,
        variant: str = "mit_b1",
        aux_channels: int = 2,
        gaff_stages: tuple[int, ...] = (2, 3),
        se_reduction: int = 4,
        inter_mode: str = "separate",
        merge_bottleneck: bool = False,
        unfused_output: str = "sum",
        drop_path_rate: float = 0.1,
        norm: str = "BN",
    ):
        super().__init__()
        _check_args(variant, aux_channels, gaff_stages, inter_mode, unfused_output)
        spec = MIT_SPECS[variant]
        self.gaff_stages = tuple(sorted(set(gaff_stages)))
        self.unfused_output = unfused_output
        aux_depth = 4 if unfused_output == "sum" else max(self.gaff_stages, default=0)
        self.rgb = MixVisionTransformer(spec, 3, drop_path_rate)
        self.aux = (
            MixVisionTransformer(spec, aux_channels, drop_path_rate, num_stages=aux_depth)
            if aux_depth
            else None
        )
        self.gaff = nn.ModuleDict(
            {
                str(s): GAFFBlock(
                    spec.dims[s - 1], se_reduction, inter_mode, merge_bottleneck, norm=norm
                )
                for s in self.gaff_stages
            }
        )
        self._out_features = list(STAGE_NAMES)
        self._out_feature_channels = dict(zip(STAGE_NAMES, spec.dims, strict=True))
        self._out_feature_strides = dict(zip(STAGE_NAMES, STAGE_STRIDES, strict=True))

    @property
    def size_divisibility(self) -> int:
        # FPN's top-down path doubles each map; inputs padded to 32 keep every stage exact.
        return 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb, aux = x[:, :3], x[:, 3:]
        outputs = {}
        for stage, name in enumerate(STAGE_NAMES, start=1):
            rgb = self.rgb.forward_stage(stage, rgb)
            if self.aux is None or stage > self.aux.num_stages:
                outputs[name] = rgb
                continue
            aux = self.aux.forward_stage(stage, aux)
            if str(stage) in self.gaff:
                rgb = aux = self.gaff[str(stage)](rgb, aux)
                outputs[name] = rgb
            else:
                outputs[name] = rgb + aux if self.unfused_output == "sum" else rgb
        return outputs

    def streams(self) -> dict[str, nn.Module]:
        return {"rgb": self.rgb} if self.aux is None else {"rgb": self.rgb, "aux": self.aux}

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }


def _check_args(
    variant: str,
    aux_channels: int,
    gaff_stages: tuple[int, ...],
    inter_mode: str,
    unfused_output: str,
) -> None:
    if variant not in MIT_VARIANTS:
        raise ValueError(f"MODEL.MIT.NAME {variant!r} is not one of {MIT_VARIANTS}")
    if aux_channels < 1:
        raise ValueError(
            "the auxiliary stream needs at least one channel: MODEL.PIXEL_MEAN/PIXEL_STD must "
            "have 3 + len(MODEL.MIT.AUX_CHANNELS) entries"
        )
    bad = [s for s in gaff_stages if s not in (1, 2, 3, 4)]
    if bad:
        raise ValueError(
            f"MODEL.GAFF.STAGES {list(gaff_stages)} has {bad}; MiT stages are 1, 2, 3, 4"
        )
    if inter_mode not in INTER_MODES:
        raise ValueError(f"MODEL.GAFF.INTER_MODE {inter_mode!r} is not one of {INTER_MODES}")
    if unfused_output not in UNFUSED_OUTPUTS:
        raise ValueError(
            f"MODEL.MIT.UNFUSED_OUTPUT {unfused_output!r} is not one of {UNFUSED_OUTPUTS}"
        )


@BACKBONE_REGISTRY.register()
def build_two_stream_mit_backbone(cfg, input_shape: ShapeSpec) -> TwoStreamMiT:
    """The bare two-stream encoder (stage1-stage4), with local ImageNet weights if configured."""
    aux_names = list(cfg.MODEL.MIT.AUX_CHANNELS)
    if input_shape.channels != 3 + len(aux_names):
        raise ValueError(
            f"MODEL.PIXEL_MEAN has {input_shape.channels} entries but the input is R, G, B + "
            f"MODEL.MIT.AUX_CHANNELS {aux_names} = {3 + len(aux_names)} channels; give "
            "PIXEL_MEAN and PIXEL_STD one value per channel"
        )
    out_channels = cfg.MODEL.GAFF.OUT_CHANNELS
    if out_channels not in (0, None):
        raise ValueError(
            f"MODEL.GAFF.OUT_CHANNELS={out_channels}: both streams continue from the fused map, "
            "so it must keep the stage width; leave it at 0"
        )
    backbone = TwoStreamMiT(
        variant=cfg.MODEL.MIT.NAME,
        aux_channels=len(aux_names),
        gaff_stages=tuple(cfg.MODEL.GAFF.STAGES),
        se_reduction=cfg.MODEL.GAFF.SE_REDUCTION,
        inter_mode=cfg.MODEL.GAFF.INTER_MODE,
        merge_bottleneck=cfg.MODEL.GAFF.MERGE_BOTTLENECK,
        unfused_output=cfg.MODEL.MIT.UNFUSED_OUTPUT,
        drop_path_rate=cfg.MODEL.MIT.DROP_PATH_RATE,
        norm=cfg.MODEL.GAFF.NORM,
    )
    if cfg.MODEL.MIT.WEIGHTS:
        load_mit_weights(backbone.streams(), cfg.MODEL.MIT.WEIGHTS)
    return backbone


@BACKBONE_REGISTRY.register()
def build_two_stream_mit_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """Two-stream MiT + GAFF, then Detectron2's FPN (p2-p6, strides 4-64)."""
    return FPN(
        bottom_up=build_two_stream_mit_backbone(cfg, input_shape),
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
