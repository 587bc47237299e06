"""Parameter formulas of the fusion methods, written out independently of the modules; the
tests compare them with the parameters of the modules the registry builds.

GAFF (no biases in SE, inter-attention or merge convs): SE 2·C²/r per modality, the
inter-modality gates 4C² (``separate`` or ``shared``; ``tied``: 2C²), the merge 2C·out +
2·out (BN γ, β), or with the bottleneck 2C² + 2C + C·out + 2·out.
"""

from __future__ import annotations

from projects_gaff.fusion import FusionSpec

# ECA-Net's adaptive kernel: odd(|(log2 C + 1) / 2|)
ECA_K = {32: 3, 64: 3, 128: 5, 160: 5, 256: 5, 320: 5, 512: 5}


def gaff_params(
    c: int,
    r: int = 4,
    bottleneck: bool = False,
    out: int | None = None,
    se: bool = True,
    tied: bool = False,
    alpha: bool = False,
) -> int:
    """One GAFF block; ``alpha``: one learnable scalar per direction."""
    out = out or c
    merge = (2 * c * c + 2 * c + c * out + 2 * out) if bottleneck else (2 * c * out + 2 * out)
    return (4 * c * c // r if se else 0) + (2 if tied else 4) * c * c + merge + 2 * alpha


def concat_params(c: int) -> int:
    """A 2C -> C 1x1 conv without bias + the norm's γ, β."""
    return 2 * c * c + 2 * c


def xattn_params(c: int, sr: int) -> int:
    """Per direction: two LayerNorms (4C), q (C² + C), kv (2C² + 2C), proj (C² + C) and,
    when sr > 1, the reduction conv (C²·sr² + C) with its LayerNorm (2C); then concat."""
    reduction = c * c * sr**2 + 3 * c if sr > 1 else 0
    return 2 * (4 * c + 4 * c * c + 4 * c + reduction) + concat_params(c)


def fusion_params(spec: FusionSpec, c: int) -> int:
    """Parameters of ``build_fusion(spec, c)``: the method's, plus out·C + 2C for the
    projection back to C of a GAFF map of another width."""
    out = spec.out_channels if spec.type == "gaff" and spec.out_channels else c
    options = {
        "r": spec.se_reduction,
        "bottleneck": spec.merge_bottleneck,
        "se": spec.use_se,
        "tied": spec.inter_mode == "tied",
        "alpha": spec.learnable_alpha,
    }
    if spec.type == "gaff":
        return gaff_params(c, out=out, **options) + (out * c + 2 * c if out != c else 0)
    if spec.type == "gated":  # the GAFF block + the gate's 2C² weights and C biases
        return gaff_params(c, **options) + 2 * c * c + c
    if spec.type == "cssa":  # two ECA kernels of size k
        return 2 * (spec.cssa_kernel_size or ECA_K[c])
    return {"add": 0, "concat": concat_params(c), "xattn": xattn_params(c, spec.attn_sr_ratio)}[
        spec.type
    ]
