"""Mix Transformer (MiT) encoder of SegFormer (Xie et al., 2021), sizes b0-b5: timm's PVTv2
bX with an MLP ratio of 4 in every stage, the same layers and LayerNorm epsilons as NVlabs'
MiT. :mod:`projects_gaff.weights` maps NVlabs and Hugging Face names onto timm's."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.models.pvt_v2 import Attention, PyramidVisionTransformerV2

from .weights import rename_nvlabs_keys

LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class MiTSpec:
    """Per-stage hyper-parameters of one MiT size (SegFormer, Xie et al., NeurIPS 2021)."""

    dims: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    heads: tuple[int, int, int, int] = (1, 2, 5, 8)
    sr_ratios: tuple[int, int, int, int] = (8, 4, 2, 1)
    mlp_ratio: int = 4


_WIDE = (64, 128, 320, 512)
MIT_SPECS: dict[str, MiTSpec] = {
    "mit_b0": MiTSpec(dims=(32, 64, 160, 256), depths=(2, 2, 2, 2)),
    "mit_b1": MiTSpec(dims=_WIDE, depths=(2, 2, 2, 2)),
    "mit_b2": MiTSpec(dims=_WIDE, depths=(3, 4, 6, 3)),
    "mit_b3": MiTSpec(dims=_WIDE, depths=(3, 4, 18, 3)),
    "mit_b4": MiTSpec(dims=_WIDE, depths=(3, 8, 27, 3)),
    "mit_b5": MiTSpec(dims=_WIDE, depths=(3, 6, 40, 3)),
}
STAGE_STRIDES = (4, 8, 16, 32)


class MixVisionTransformer(PyramidVisionTransformerV2):
    """The MiT encoder without a classifier, run one stage at a time so that a caller can
    fuse streams between stages. ``num_stages`` < 4 builds only the first stages, with the
    drop-path rates they have in the full encoder."""

    def __init__(
        self,
        spec: MiTSpec,
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
        num_stages: int = 4,
    ):
        n_blocks = sum(spec.depths)
        kept_blocks = sum(spec.depths[:num_stages])
        # timm spreads its rate linearly over the blocks it builds; scaled like this, the kept
        # blocks get the rates of the full encoder (0 ... drop_path_rate over n_blocks).
        kept_rate = drop_path_rate * (kept_blocks - 1) / max(n_blocks - 1, 1)
        super().__init__(
            in_chans=in_chans,
            num_classes=0,
            depths=spec.depths[:num_stages],
            embed_dims=spec.dims[:num_stages],
            num_heads=spec.heads[:num_stages],
            sr_ratios=spec.sr_ratios[:num_stages],
            mlp_ratios=(spec.mlp_ratio,) * num_stages,
            drop_path_rate=kept_rate,
        )
        self.spec = spec
        self.num_stages = num_stages
        self.register_load_state_dict_pre_hook(_load_nvlabs_named_keys)

    def forward_stage(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """Run stage ``stage`` (1-4) on a (B, C, H, W) map; return (B, C_stage, H', W')."""
        if stage == 1:
            x = self.patch_embed(x)
        return self.stages[stage - 1](x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's (B, C_i, H/s_i, W/s_i) map."""
        features = []
        for stage in range(1, self.num_stages + 1):
            x = self.forward_stage(stage, x)
            features.append(x)
        return features


def _load_nvlabs_named_keys(module, state_dict, prefix, *_) -> None:
    """Rename, in place, this stream's NVlabs-named keys (checkpoints written before the
    encoder came from timm) to timm's names, so such checkpoints still load."""
    own = [k for k in state_dict if k.startswith(prefix)]
    renamed = rename_nvlabs_keys({k.removeprefix(prefix): state_dict.pop(k) for k in own})
    state_dict.update({prefix + k: v for k, v in renamed.items()})


class EfficientSelfAttention(Attention):
    """MiT attention (keys/values from a map shrunk by ``sr_ratio``) that may take its keys
    and values from a ``context``: tokens of another map of the same grid. That is the
    cross-attention fusion (:mod:`projects_gaff.fusion.cross_attention`)."""

    def forward(
        self, x: torch.Tensor, h: int, w: int, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        source = x if context is None else context
        if self.sr is not None:
            source = source.transpose(1, 2).reshape(b, c, h, w)
            source = self.norm(self.sr(source).flatten(2).transpose(1, 2))
        kv = self.kv(source).reshape(b, -1, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))
