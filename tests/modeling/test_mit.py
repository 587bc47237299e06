"""MiT against transformers' SegformerModel, and local weight files in both layouts."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from projects_gaff.backbone import TwoStreamMiT
from projects_gaff.mit import MIT_SPECS, MixVisionTransformer
from projects_gaff.weights import adapt_stem_weight, checkpoint_filter_fn, load_mit_weights

transformers = pytest.importorskip("transformers", reason="transformers is a test dependency")

B0 = MIT_SPECS["mit_b0"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A randomly initialised (and perturbed) SegformerModel of b0's shape, saved to disk."""
    config = transformers.SegformerConfig(
        hidden_sizes=list(B0.dims),
        depths=list(B0.depths),
        num_attention_heads=list(B0.heads),
        sr_ratios=list(B0.sr_ratios),
        drop_path_rate=0.0,
    )
    torch.manual_seed(0)
    model = transformers.SegformerModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # make LayerNorm affines and biases non-trivial
            p.add_(0.02 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("segformer")
    model.save_pretrained(folder)
    return model, folder / "model.safetensors"


def reference_features(model, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return list(model(pixel_values=x, output_hidden_states=True).hidden_states)


def hub_to_nvlabs(hub: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The NVlabs layout, rebuilt in the test from DESIGN_NOTES §6 (independent of weights.py)."""
    out = {}
    for key, v in hub.items():
        k = key.removeprefix("segformer.").removeprefix("encoder.")
        k = re.sub(
            r"^patch_embeddings\.(\d)\.layer_norm", lambda m: f"patch_embed{int(m[1]) + 1}.norm", k
        )
        k = re.sub(r"^patch_embeddings\.(\d)", lambda m: f"patch_embed{int(m[1]) + 1}", k)
        k = re.sub(r"^layer_norm\.(\d)", lambda m: f"norm{int(m[1]) + 1}", k)
        k = re.sub(r"^block\.(\d)", lambda m: f"block{int(m[1]) + 1}", k)
        for a, b in [
            ("attention.self.query", "attn.q"),
            ("attention.self.sr", "attn.sr"),
            ("attention.self.layer_norm", "attn.norm"),
            ("attention.output.dense", "attn.proj"),
            ("layer_norm_1", "norm1"),
            ("layer_norm_2", "norm2"),
            ("mlp.dense1", "mlp.fc1"),
            ("mlp.dense2", "mlp.fc2"),
        ]:
            k = k.replace(a, b)
        out[k] = v
    for k in [k for k in out if ".attention.self.key." in k]:
        v = k.replace(".key.", ".value.")
        out[k.replace("attention.self.key", "attn.kv")] = torch.cat([out.pop(k), out.pop(v)])
    out["head.weight"] = torch.zeros(1000, B0.dims[-1])
    return out


def test_matches_segformer_model(reference):
    """Same weights in, same four feature maps out, at a size that is not a multiple of 32."""
    model, path = reference
    ours = MixVisionTransformer(B0).eval()
    ours.load_state_dict(checkpoint_filter_fn(load_file(str(path))), strict=True)
    x = torch.randn(2, 3, 97, 131)
    with torch.no_grad():
        got = ours(x)
    expected = reference_features(model, x)
    assert [f.shape for f in got] == [f.shape for f in expected]
    assert [f.shape[-2:] for f in got] == [(25, 33), (13, 17), (7, 9), (4, 5)]
    for g, e in zip(got, expected, strict=True):
        assert (g - e).abs().max().item() < 1e-4


@pytest.mark.parametrize("layout", ["huggingface", "nvlabs"])
def test_local_weights_load_into_both_streams(reference, tmp_path, layout):
    model, hf_file = reference
    hub = {f"segformer.{k}": v for k, v in load_file(str(hf_file)).items()}
    hub["classifier.weight"] = torch.zeros(1000, B0.dims[-1])
    if layout == "huggingface":
        path = tmp_path / "model.safetensors"
        save_file(hub, str(path))
    else:
        path = tmp_path / "mit_b0.pth"
        torch.save(hub_to_nvlabs(hub), path)

    backbone = TwoStreamMiT("mit_b0", aux_channels=2, gaff_stages=(3,), drop_path_rate=0.0).eval()
    reports = load_mit_weights(backbone.streams(), path)
    n_tensors = len(backbone.rgb.state_dict())
    assert len(reports["rgb"].loaded) == n_tensors and not reports["rgb"].missing
    assert len(reports["aux"].loaded) == n_tensors and not reports["aux"].missing

    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        got = backbone.rgb(x)
    for g, e in zip(got, reference_features(model, x), strict=True):
        assert (g - e).abs().max().item() < 1e-4
    rgb_stem = backbone.rgb.patch_embed1.proj.weight
    aux_stem = backbone.aux.patch_embed1.proj.weight
    assert aux_stem.shape[1] == 2
    torch.testing.assert_close(aux_stem, adapt_stem_weight(rgb_stem, 2))
    torch.testing.assert_close(
        backbone.aux.block3[0].attn.kv.weight, backbone.rgb.block3[0].attn.kv.weight
    )


def test_adapted_stem_preserves_grey_response():
    w = torch.randn(8, 3, 7, 7)
    grey = torch.randn(1, 1, 15, 15)
    rgb_out = torch.nn.functional.conv2d(grey.repeat(1, 3, 1, 1), w)
    for n in (1, 2, 4):
        out = torch.nn.functional.conv2d(grey.repeat(1, n, 1, 1), adapt_stem_weight(w, n))
        torch.testing.assert_close(out, rgb_out, rtol=1e-4, atol=1e-4)


def test_weights_that_match_nothing_fail_loudly(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    backbone = TwoStreamMiT("mit_b0", gaff_stages=())
    with pytest.raises(ValueError, match=r"no tensor of .*resnet\.pth matched"):
        load_mit_weights(backbone.streams(), path)


def test_missing_weights_file_names_the_fix(tmp_path):
    backbone = TwoStreamMiT("mit_b0", gaff_stages=())
    with pytest.raises(FileNotFoundError, match=r"MODEL\.MIT\.WEIGHTS"):
        load_mit_weights(backbone.streams(), tmp_path / "absent.pth")


def test_weights_of_another_size_are_refused(reference, tmp_path):
    _, hf_file = reference
    backbone = TwoStreamMiT("mit_b1", gaff_stages=())
    with pytest.raises(ValueError, match=r"is MODEL\.MIT\.NAME the size"):
        load_mit_weights(backbone.streams(), hf_file)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"patch_embed1.proj.weight": torch.zeros(1), "x": print}, path)
    backbone = TwoStreamMiT("mit_b0", gaff_stages=())
    with pytest.raises(Exception, match=r"Weights only load failed|Unsupported global"):
        load_mit_weights(backbone.streams(), path)


def test_every_variant_matches_published_size():
    """One-stream encoder sizes without a classifier (DESIGN_NOTES §4: b0 3.3M ... b5 81.4M)."""
    published = {
        "mit_b0": 3.3,
        "mit_b1": 13.2,
        "mit_b2": 24.2,
        "mit_b3": 44.1,
        "mit_b4": 60.8,
        "mit_b5": 81.4,
    }
    for name, millions in published.items():
        spec = MIT_SPECS[name]
        with torch.device("meta"):
            encoder = MixVisionTransformer(spec)
        total = sum(p.numel() for p in encoder.parameters()) / 1e6
        assert abs(total - millions) < 0.05, (name, total)
