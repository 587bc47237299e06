"""The GAFF block: the exact parameter formula, equivalence of shared and separate."""

from __future__ import annotations

import itertools

import pytest
import torch
from fusion_formulas import gaff_params

from projects_gaff.fusion.gaff import GAFFBlock, InterModalityAttention


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "c, r, shared, bottleneck",
    list(
        itertools.product([32, 64, 128, 160, 256, 320, 512], [4, 8], [False, True], [False, True])
    ),
)
def test_param_count_matches_formula(c, r, shared, bottleneck):
    block = GAFFBlock(c, r, "shared" if shared else "separate", bottleneck)
    assert n_params(block) == gaff_params(c, r, bottleneck)


@pytest.mark.parametrize(
    "c, r, mode, bottleneck, expected",
    [
        (64, 4, "separate", False, 28_800),
        (128, 4, "separate", False, 114_944),
        (320, 4, "separate", False, 717_440),
        (512, 4, "separate", False, 1_836_032),
        (320, 8, "shared", True, 769_280),
        (320, 4, "separate", True, 820_480),
    ],
)
def test_published_example_counts(c, r, mode, bottleneck, expected):
    assert n_params(GAFFBlock(c, r, mode, bottleneck)) == expected


def test_tied_mode_has_half_the_inter_attention():
    c = 64
    tied = GAFFBlock(c, 4, "tied")
    assert n_params(tied) == gaff_params(c, 4, False) - 2 * c * c
    assert gaff_params(c, 4, False, tied=True) == n_params(tied)


def test_tied_mode_is_symmetric():
    attn = InterModalityAttention(16, "tied")
    a, b = torch.randn(2, 16, 5, 7), torch.randn(2, 16, 5, 7)
    w_ab, w_ba = attn(a, b)
    w_ba2, w_ab2 = attn(b, a)
    torch.testing.assert_close(w_ab, w_ab2)
    torch.testing.assert_close(w_ba, w_ba2)


def test_shared_and_separate_are_the_same_function():
    """Copying separate's two convs into shared's one conv gives identical outputs."""
    torch.manual_seed(0)
    separate = GAFFBlock(32, 4, "separate").eval()
    shared = GAFFBlock(32, 4, "shared").eval()
    state = separate.state_dict()
    conv = torch.cat(
        [state.pop("inter_attn.conv_rgb.weight"), state.pop("inter_attn.conv_aux.weight")]
    )
    state["inter_attn.conv.weight"] = conv
    shared.load_state_dict(state)
    x_rgb, x_aux = torch.randn(2, 32, 9, 11), torch.randn(2, 32, 9, 11)
    torch.testing.assert_close(shared(x_rgb, x_aux), separate(x_rgb, x_aux), rtol=0, atol=0)
    # ... and the two modes are not trivially identical before the copy.
    assert not torch.allclose(
        GAFFBlock(32, 4, "shared").eval()(x_rgb, x_aux), separate(x_rgb, x_aux)
    )


def test_forward_follows_the_guide():
    """Output = merge([SE(rgb) + w_rgb*aux, SE(aux) + w_aux*rgb]), computed by hand."""
    torch.manual_seed(1)
    block = GAFFBlock(16, 4, "separate", merge_bottleneck=True).eval()
    x_rgb, x_aux = torch.randn(3, 16, 6, 5), torch.randn(3, 16, 6, 5)

    def se(fc1, fc2, x):
        w = torch.sigmoid(torch.relu(x.mean((2, 3)) @ fc1.weight.T) @ fc2.weight.T)
        return x * w[:, :, None, None]

    both = torch.cat([x_rgb, x_aux], 1)
    w_rgb = torch.sigmoid(
        torch.einsum("oc,bchw->bohw", block.inter_attn.conv_rgb.weight[:, :, 0, 0], both)
    )
    w_aux = torch.sigmoid(
        torch.einsum("oc,bchw->bohw", block.inter_attn.conv_aux.weight[:, :, 0, 0], both)
    )
    rgb_g = se(block.se_rgb.fc1, block.se_rgb.fc2, x_rgb) + w_rgb * x_aux
    aux_g = se(block.se_aux.fc1, block.se_aux.fc2, x_aux) + w_aux * x_rgb
    expected = block.merge(torch.cat([rgb_g, aux_g], 1))
    torch.testing.assert_close(block(x_rgb, x_aux), expected)
    assert isinstance(block.merge[2], torch.nn.ReLU)
    assert all(
        m.bias is None for m in block.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    )


def test_bad_reduction_is_a_clear_error():
    with pytest.raises(ValueError, match="SE reduction 0"):
        GAFFBlock(64, 0)
    with pytest.raises(ValueError, match="inter-attention mode"):
        GAFFBlock(64, 4, "cross")
