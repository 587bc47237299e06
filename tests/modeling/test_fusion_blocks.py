"""Fusion modules on their own: parameter formulas, gradients, the defining behaviour."""

from __future__ import annotations

import itertools

import pytest
import torch
from fusion_formulas import ECA_K, fusion_params
from fusion_formulas import gaff_params as gaff

from projects_gaff.fusion import (
    FUSION_REGISTRY,
    GUIDE_GAFF,
    FusionSpec,
    ProjectedFusion,
    build_fusion,
)
from projects_gaff.fusion.cssa import CSSABlock, eca_kernel_size
from projects_gaff.fusion.gaff import GAFFBlock
from projects_gaff.fusion.gated import GatedGAFF


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


VARIANTS = {
    "gaff": (FusionSpec(), lambda c: gaff(c)),
    "gaff_r8": (FusionSpec(se_reduction=8), lambda c: gaff(c, 8)),
    "gaff_lite": (FusionSpec(use_se=False), lambda c: gaff(c, se=False)),
    "gaff_tied": (FusionSpec(inter_mode="tied"), lambda c: gaff(c, tied=True)),
    "gaff_alpha": (FusionSpec(learnable_alpha=True), lambda c: gaff(c) + 2),
    # fused width 96 for the FPN, then a 96 -> C conv + BN back to the streams
    "gaff_out96": (FusionSpec(out_channels=96), lambda c: gaff(c, out=96) + 96 * c + 2 * c),
    "gated": (FusionSpec(type="gated"), lambda c: gaff(c) + 2 * c * c + c),
    "gated_lite": (
        FusionSpec(type="gated", use_se=False),
        lambda c: gaff(c, se=False) + 2 * c * c + c,
    ),
    "add": (FusionSpec(type="add"), lambda c: 0),
    "concat": (FusionSpec(type="concat"), lambda c: 2 * c * c + 2 * c),
    "cssa": (FusionSpec(type="cssa"), lambda c: 2 * ECA_K[c]),
    "cssa_k7": (FusionSpec(type="cssa", cssa_kernel_size=7), lambda c: 14),
    # per direction: 2 LayerNorms, q, kv, proj (+ the reduction conv and its LayerNorm);
    # then the concat merge
    "xattn": (
        FusionSpec(type="xattn", attn_heads=2),
        lambda c: 2 * (4 * c + 4 * c * c + 4 * c) + 2 * c * c + 2 * c,
    ),
    "xattn_sr2": (
        FusionSpec(type="xattn", attn_heads=2, attn_sr_ratio=2),
        lambda c: 2 * (4 * c + 4 * c * c + 4 * c + 4 * c * c + 3 * c) + 2 * c * c + 2 * c,
    ),
}


def test_every_type_has_a_variant_here():
    assert {spec.type for spec, _ in VARIANTS.values()} | {"none"} == set(FUSION_REGISTRY.types())


@pytest.mark.parametrize("name", [name for name, _ in FUSION_REGISTRY])
def test_each_registered_method_is_built_from_its_spec(name):
    """The registry maps each MODEL.FUSION.TYPE to one class; build_fusion asks it."""
    cls = FUSION_REGISTRY.get(name)
    spec = FusionSpec(type=name, attn_heads=2)
    assert type(build_fusion(spec, 32)) is cls
    assert type(cls.from_spec(spec, 32)) is cls
    with pytest.raises(KeyError, match="No object named 'mean'"):
        build_fusion(FusionSpec(type="mean"), 32)


@pytest.mark.parametrize("variant, c", list(itertools.product(VARIANTS, [32, 64, 160, 320, 512])))
def test_param_count_matches_formula(variant, c):
    spec, formula = VARIANTS[variant]
    assert n_params(build_fusion(spec, c)) == fusion_params(spec, c) == formula(c)


def test_published_cssa_example_is_the_guide_s_order_of_magnitude():
    """The guide: GAFF at C=320 has ~355x CSSA's parameters; here 717,440 vs 10."""
    assert n_params(build_fusion(GUIDE_GAFF, 320)) == fusion_params(GUIDE_GAFF, 320) == 717_440
    cssa = FusionSpec(type="cssa")
    assert n_params(build_fusion(cssa, 320)) == fusion_params(cssa, 320) == 10
    assert [eca_kernel_size(c) for c in ECA_K] == list(ECA_K.values())


def test_default_spec_is_the_guide_s_block():
    block = build_fusion(GUIDE_GAFF, 64)
    assert type(block) is GAFFBlock
    assert block.state_dict().keys() == GAFFBlock(64).state_dict().keys()


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_backward_reaches_every_parameter(variant):
    torch.manual_seed(0)
    spec, _ = VARIANTS[variant]
    block = build_fusion(spec, 32)
    x_rgb = torch.randn(2, 32, 5, 7, requires_grad=True)
    x_aux = torch.randn(2, 32, 5, 7, requires_grad=True)
    fused = block(x_rgb, x_aux)
    assert fused.shape == (2, spec.fused_channels(32), 5, 7)
    if isinstance(block, ProjectedFusion):
        fused = block.project(fused)
        assert fused.shape == x_rgb.shape
    (fused * torch.randn_like(fused)).sum().backward()
    dead = [n for n, p in block.named_parameters() if p.grad is None or not p.grad.any()]
    assert dead == []
    assert x_rgb.grad.any() and x_aux.grad.any()  # both modalities reach the fused map


def _cssa_with_neutral_eca(threshold: float) -> CSSABlock:
    block = CSSABlock(16, threshold)
    for eca in (block.eca_rgb, block.eca_aux):
        torch.nn.init.zeros_(eca.conv.weight)  # every ECA score is sigmoid(0) = 0.5
    return block


@pytest.mark.parametrize("threshold, switched", [(0.3, False), (0.7, True)])
def test_cssa_switches_channels_scored_below_the_threshold(threshold, switched):
    x_rgb, x_aux = torch.randn(2, 16, 4, 6), torch.randn(2, 16, 4, 6)
    rgb, aux = (x_aux, x_rgb) if switched else (0.5 * x_rgb, 0.5 * x_aux)
    both = torch.cat([rgb, aux], 1)
    spatial = torch.sigmoid(both.mean(1, keepdim=True)) * torch.sigmoid(both.amax(1, keepdim=True))
    expected = spatial * (rgb + aux) / 2
    got = _cssa_with_neutral_eca(threshold)(x_rgb, x_aux)
    torch.testing.assert_close(got, expected)


def test_cssa_rejects_thresholds_outside_the_sigmoid_range():
    with pytest.raises(ValueError, match=r"threshold 1\.0 must lie in"):
        CSSABlock(16, 1.0)
    with pytest.raises(ValueError, match="kernel size 4 must be a positive odd"):
        CSSABlock(16, 0.5, kernel_size=4)


@pytest.mark.parametrize("bias, follows", [(-30.0, "rgb"), (30.0, "gaff")])
def test_gate_blends_gaff_output_with_rgb(bias, follows):
    block = build_fusion(FusionSpec(type="gated"), 16).eval()
    assert isinstance(block, GatedGAFF)
    torch.nn.init.zeros_(block.gate.conv.weight)
    torch.nn.init.constant_(block.gate.conv.bias, bias)
    x_rgb, x_aux = torch.randn(2, 16, 4, 6), torch.randn(2, 16, 4, 6)
    expected = x_rgb if follows == "rgb" else block.gaff(x_rgb, x_aux)
    torch.testing.assert_close(block(x_rgb, x_aux), expected)


def test_lite_block_with_zero_alpha_merges_the_raw_streams():
    """No SE and alpha = 0 leave only the merge of [x_rgb, x_aux]."""
    block = build_fusion(FusionSpec(use_se=False, learnable_alpha=True), 16).eval()
    torch.nn.init.zeros_(block.alpha_rgb.scale)
    torch.nn.init.zeros_(block.alpha_aux.scale)
    x_rgb, x_aux = torch.randn(2, 16, 4, 6), torch.randn(2, 16, 4, 6)
    expected = block.merge(torch.cat([x_rgb, x_aux], 1))
    torch.testing.assert_close(block(x_rgb, x_aux), expected)


def test_cross_attention_is_standard_multi_head_attention_between_the_modalities():
    """Without spatial reduction, each direction is nn.MultiheadAttention (queries from one
    modality, keys and values from the other) on LayerNorm-ed tokens, plus the residual."""
    torch.manual_seed(0)
    c, heads = 16, 2
    block = build_fusion(FusionSpec(type="xattn", attn_heads=heads), c).eval()
    x_rgb, x_aux = torch.randn(2, c, 4, 6), torch.randn(2, c, 4, 6)

    def reference(direction, x, other):
        attn = direction.attn
        mha = torch.nn.MultiheadAttention(c, heads, batch_first=True)
        k_weight, v_weight = attn.kv.weight.chunk(2)
        k_bias, v_bias = attn.kv.bias.chunk(2)
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([attn.q.weight, k_weight, v_weight]))
            mha.in_proj_bias.copy_(torch.cat([attn.q.bias, k_bias, v_bias]))
            mha.out_proj.weight.copy_(attn.proj.weight)
            mha.out_proj.bias.copy_(attn.proj.bias)
        tokens, context = (t.flatten(2).transpose(1, 2) for t in (x, other))
        query, key = direction.norm(tokens), direction.norm_context(context)
        out = tokens + mha(query, key, key, need_weights=False)[0]
        return out.transpose(1, 2).reshape(x.shape)

    with torch.no_grad():
        rgb = reference(block.rgb_from_aux, x_rgb, x_aux)
        aux = reference(block.aux_from_rgb, x_aux, x_rgb)
        torch.testing.assert_close(block(x_rgb, x_aux), block.merge(rgb, aux))


def test_cross_attention_reads_the_other_modality_everywhere():
    """Changing the aux map in one corner changes every fused pixel through the attention;
    concat, a per-pixel method, changes only that corner."""
    torch.manual_seed(0)
    x_rgb, x_aux = torch.randn(1, 16, 8, 8), torch.randn(1, 16, 8, 8)
    changed = x_aux.clone()
    changed[..., :2, :2] += 5.0 * torch.randn(1, 16, 2, 2)
    far = {}
    for kind in ("xattn", "concat"):
        block = build_fusion(FusionSpec(type=kind, attn_heads=2), 16).eval()
        with torch.no_grad():
            delta = (block(x_rgb, changed) - block(x_rgb, x_aux)).abs()
        assert delta[..., :2, :2].amax() > 0.1
        far[kind] = delta[..., 2:, 2:]
    assert far["xattn"].amin() > 0 and far["concat"].amax() == 0
