"""Two-stream MiT backbone with fusion (GAFF by default) at the configured stages, behind an
FPN."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from torch import nn

from .fusion import GUIDE_GAFF, FusionSpec, ProjectedFusion, build_fusion, fusion_specs_from_cfg
from .fusion.spec import check_stages
from .mit import MIT_SPECS, STAGE_STRIDES, MixVisionTransformer
from .weights import load_mit_weights

STAGE_NAMES = ("stage1", "stage2", "stage3", "stage4")
UNFUSED_OUTPUTS = ("sum", "rgb", "aux")


class TwoStreamMiT(Backbone):
    """RGB and auxiliary MiT streams (separate weights) on a normalised (B, 3 + N, H, W)
    input, fused at ``fusion_stages`` (README, "The model"). ``fusion_spec``: one spec for
    every fused stage, or stage -> spec over exactly those stages.
    """

    def __init__(
        self,
        variant: str = "mit_b1",
        aux_channels: int = 2,
        fusion_stages: Iterable[int] = (2, 3),
        unfused_output: str = "sum",
        drop_path_rate: float = 0.1,
        fusion_spec: FusionSpec | Mapping[int, FusionSpec] = GUIDE_GAFF,
        late: bool = False,
    ):
        super().__init__()
        self.late = late
        self.fusion_stages = tuple(sorted(set(fusion_stages)))
        _check_args(variant, aux_channels, self.fusion_stages, unfused_output)
        if isinstance(fusion_spec, FusionSpec):
            fusion_spec = dict.fromkeys(self.fusion_stages, fusion_spec)
        specs = dict(fusion_spec)
        if set(specs) != set(self.fusion_stages):
            raise ValueError(
                f"fusion specs for stages {sorted(specs)}, but the fused stages are "
                f"{list(self.fusion_stages)}"
            )
        spec = MIT_SPECS[variant]
        self.unfused_output = unfused_output
        last_fused = max(self.fusion_stages, default=0)
        rgb_depth = 4 if unfused_output in ("sum", "rgb") else last_fused
        aux_depth = 4 if unfused_output in ("sum", "aux") else last_fused
        # a stream whose later stages never reach the output stops after the last fused one
        self.rgb, self.aux = (
            MixVisionTransformer(spec, chans, drop_path_rate, depth) if depth else None
            for chans, depth in ((3, rgb_depth), (aux_channels, aux_depth))
        )
        self.fusion = nn.ModuleDict(
            {str(s): build_fusion(specs[s], spec.dims[s - 1]) for s in self.fusion_stages}
        )
        self.register_load_state_dict_pre_hook(_rename_gaff_keys)
        if late and any(isinstance(m, ProjectedFusion) for m in self.fusion.values()):
            raise ValueError(
                "MODEL.GAFF.OUT_CHANNELS with MODEL.FUSION.LATE: the projection back to the "
                "stage width feeds the streams, which late fusion does not; leave "
                "OUT_CHANNELS at 0"
            )
        self._out_features = list(STAGE_NAMES)
        self._out_feature_channels = {
            name: specs[s].fused_channels(dim) if s in specs else dim
            for s, (name, dim) in enumerate(zip(STAGE_NAMES, spec.dims, strict=True), start=1)
        }
        self._out_feature_strides = dict(zip(STAGE_NAMES, STAGE_STRIDES, strict=True))

    @property
    def size_divisibility(self) -> int:
        # FPN's top-down path doubles each map; inputs padded to 32 keep every stage exact.
        return 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb, aux = x[:, :3], x[:, 3:]
        outputs = {}
        for stage, name in enumerate(STAGE_NAMES, start=1):
            rgb = _run_stage(self.rgb, stage, rgb)
            aux = _run_stage(self.aux, stage, aux)
            if str(stage) in self.fusion:
                fuse = self.fusion[str(stage)]
                outputs[name] = fused = fuse(rgb, aux)
                if not self.late:
                    rgb = aux = fuse.project(fused) if isinstance(fuse, ProjectedFusion) else fused
            elif rgb is None or aux is None:
                outputs[name] = aux if rgb is None else rgb
            else:
                outputs[name] = {"sum": rgb + aux, "rgb": rgb, "aux": aux}[self.unfused_output]
        return outputs

    def streams(self) -> dict[str, nn.Module]:
        return {name: s for name, s in (("rgb", self.rgb), ("aux", self.aux)) if s is not None}


def _run_stage(
    stream: MixVisionTransformer | None, stage: int, x: torch.Tensor | None
) -> torch.Tensor | None:
    """The stream's map after ``stage``; None once the stream has ended (or was never built)."""
    if stream is None or x is None or stage > stream.num_stages:
        return None
    return stream.forward_stage(stage, x)


def _rename_gaff_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Checkpoints from before the rename hold the fusion modules under ``gaff.``."""
    old = prefix + "gaff."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + "fusion." + key[len(old) :]] = state_dict.pop(key)


def _check_args(
    variant: str, aux_channels: int, fusion_stages: tuple[int, ...], unfused_output: str
) -> None:
    if variant not in MIT_SPECS:
        raise ValueError(f"MODEL.MIT.NAME {variant!r} is not one of {tuple(MIT_SPECS)}")
    if aux_channels < 1:
        raise ValueError(
            "the auxiliary stream needs at least one channel: MODEL.PIXEL_MEAN/PIXEL_STD must "
            "have 3 + len(MODEL.MIT.AUX_CHANNELS) entries"
        )
    check_stages(fusion_stages, "fusion_stages")
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
    specs = fusion_specs_from_cfg(cfg)  # stage -> spec, validated; the registry builds each
    backbone = TwoStreamMiT(
        variant=cfg.MODEL.MIT.NAME,
        aux_channels=len(aux_names),
        fusion_stages=tuple(specs),
        unfused_output=cfg.MODEL.MIT.UNFUSED_OUTPUT,
        drop_path_rate=cfg.MODEL.MIT.DROP_PATH_RATE,
        fusion_spec=specs,
        late=cfg.MODEL.FUSION.LATE,
    )
    for stream in backbone.streams().values():
        stream.set_grad_checkpointing(cfg.MODEL.MIT.GRAD_CHECKPOINT)
    if cfg.MODEL.MIT.WEIGHTS:
        load_mit_weights(backbone.streams(), cfg.MODEL.MIT.WEIGHTS)
    return backbone


@BACKBONE_REGISTRY.register()
def build_two_stream_mit_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """Two-stream MiT + fusion, then Detectron2's FPN (p2-p6, strides 4-64)."""
    return FPN(
        bottom_up=build_two_stream_mit_backbone(cfg, input_shape),
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
