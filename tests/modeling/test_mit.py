"""MiT against transformers' SegformerModel, local weight files in both layouts, checkpoints
of the hand-written encoder that preceded timm's, and gradient checkpointing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import CONFIGS, make_cfg, on_meta
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone, build_model
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from projects_gaff.backbone import TwoStreamMiT
from projects_gaff.engine.checkpoint import StudyCheckpointer
from projects_gaff.mit import MIT_SPECS, MiTSpec, MixVisionTransformer
from projects_gaff.weights import adapt_stem_weight, checkpoint_filter_fn, load_mit_weights

transformers = pytest.importorskip("transformers", reason="transformers is a test dependency")

B0 = MIT_SPECS["mit_b0"]
BASE_CONFIG = CONFIGS / "Base-GAFF-RCNN-FPN.yaml"


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


@pytest.mark.slow
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


@pytest.mark.parametrize("layout", [pytest.param("huggingface", marks=pytest.mark.slow), "nvlabs"])
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

    backbone = TwoStreamMiT("mit_b0", aux_channels=2, fusion_stages=(3,), drop_path_rate=0.0).eval()
    reports = load_mit_weights(backbone.streams(), path)
    n_tensors = len(backbone.rgb.state_dict())
    assert len(reports["rgb"].loaded) == n_tensors and not reports["rgb"].missing
    assert len(reports["aux"].loaded) == n_tensors and not reports["aux"].missing

    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        got = backbone.rgb(x)
    for g, e in zip(got, reference_features(model, x), strict=True):
        assert (g - e).abs().max().item() < 1e-4
    rgb_stem = backbone.rgb.patch_embed.proj.weight
    aux_stem = backbone.aux.patch_embed.proj.weight
    assert aux_stem.shape[1] == 2
    torch.testing.assert_close(aux_stem, adapt_stem_weight(rgb_stem, 2))
    torch.testing.assert_close(
        backbone.aux.stages[2].blocks[0].attn.kv.weight,
        backbone.rgb.stages[2].blocks[0].attn.kv.weight,
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
    backbone = TwoStreamMiT("mit_b0", fusion_stages=())
    with pytest.raises(ValueError, match=r"no tensor of .*resnet\.pth matched"):
        load_mit_weights(backbone.streams(), path)


def test_missing_weights_file_names_the_fix(tmp_path):
    backbone = TwoStreamMiT("mit_b0", fusion_stages=())
    with pytest.raises(FileNotFoundError, match=r"MODEL\.MIT\.WEIGHTS"):
        load_mit_weights(backbone.streams(), tmp_path / "absent.pth")


def test_weights_of_another_size_are_refused(reference, tmp_path):
    _, hf_file = reference
    backbone = TwoStreamMiT("mit_b1", fusion_stages=())
    with pytest.raises(ValueError, match=r"is MODEL\.MIT\.NAME the size"):
        load_mit_weights(backbone.streams(), hf_file)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"patch_embed1.proj.weight": torch.zeros(1), "x": print}, path)
    backbone = TwoStreamMiT("mit_b0", fusion_stages=())
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
        with on_meta():
            encoder = MixVisionTransformer(spec)
        total = sum(p.numel() for p in encoder.parameters()) / 1e6
        assert abs(total - millions) < 0.05, (name, total)


# Both fixtures were written once by the hand-written encoder of commit ceb7212
# (projects_gaff/mit.py, NVlabs parameter names), the last one before timm's PVTv2.
FIXTURES = Path(__file__).parent / "fixtures"


def read_fixture(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    return load_file(str(path)), metadata


def test_weights_of_the_handwritten_encoder_give_its_outputs():
    """A tiny encoder of the old layout (2-channel stem, random weights): its state dict loads
    strictly into the timm-based encoder, which reproduces the four maps it computed."""
    tensors, meta = read_fixture(FIXTURES / "mit_tiny_before_timm.safetensors")
    spec = MiTSpec(**{k: tuple(json.loads(v)) for k, v in meta.items()})
    old = {k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state")}
    assert "patch_embed1.proj.weight" in old and "block2.1.mlp.dwconv.dwconv.weight" in old
    encoder = MixVisionTransformer(spec, in_chans=2).eval()
    encoder.load_state_dict(old, strict=True)
    with torch.no_grad():
        got = encoder(tensors["input"])
    for i, g in enumerate(got):
        # 1e-5, not 0: the old encoder gave the attention's reduction LayerNorm eps 1e-6,
        # timm gives it NVlabs' 1e-5.
        torch.testing.assert_close(g, tensors[f"output.{i}"], rtol=0, atol=1e-5)


def test_detector_checkpoint_from_before_timm_loads(tmp_path):
    """A whole-detector checkpoint whose streams carry the old names (every mit_b0 key of
    both streams, from the fixture) loads through the study's checkpointer: every stream
    tensor is taken, none keeps its initialisation."""

    old_keys = json.loads((FIXTURES / "mit_b0_keys_before_timm.json").read_text())
    model = build_model(make_cfg())
    prefix = "backbone.bottom_up."
    state = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith((prefix + "rgb.", prefix + "aux."))
    }
    # tensor i is filled with i, so where each one lands can be read back
    state.update(
        {prefix + k: torch.full(shape, float(i)) for i, (k, shape) in enumerate(old_keys.items())}
    )
    torch.save({"model": state}, tmp_path / "model_0000099.pth")
    StudyCheckpointer(model).load(str(tmp_path / "model_0000099.pth"))

    streams = model.backbone.bottom_up.streams()
    loaded = {}
    for name, stream in streams.items():
        for key, value in stream.state_dict().items():
            assert value.unique().numel() == 1, f"{name}.{key} kept its initialisation"
            loaded[f"{name}.{key}"] = int(value.flatten()[0])
    assert sorted(loaded.values()) == list(range(len(old_keys)))
    index = dict(enumerate(old_keys))
    assert index[loaded["rgb.patch_embed.proj.weight"]] == "rgb.patch_embed1.proj.weight"
    assert index[loaded["aux.stages.3.downsample.norm.bias"]] == "aux.patch_embed4.norm.bias"
    assert index[loaded["rgb.stages.1.blocks.1.mlp.dwconv.weight"]] == (
        "rgb.block2.1.mlp.dwconv.dwconv.weight"
    )
    assert index[loaded["aux.stages.2.norm.weight"]] == "aux.norm3.weight"


def test_truncated_stream_keeps_the_full_encoders_drop_path_rates():
    def rates(encoder):
        return [
            getattr(block.drop_path1, "drop_prob", 0.0)
            for stage in encoder.stages
            for block in stage.blocks
        ]

    with on_meta():
        full = MixVisionTransformer(MIT_SPECS["mit_b2"], drop_path_rate=0.3)
        first_two = MixVisionTransformer(MIT_SPECS["mit_b2"], drop_path_rate=0.3, num_stages=2)
    assert len(first_two.stages) == 2 and rates(full)[-1] == pytest.approx(0.3)
    assert rates(first_two) == pytest.approx(rates(full)[:7])


def test_grad_checkpoint_gives_identical_loss_and_gradients():
    """MODEL.MIT.GRAD_CHECKPOINT recomputes the MiT blocks in the backward pass (their
    attention runs twice) and changes neither the loss nor any gradient, drop path included."""
    torch.manual_seed(0)
    x = torch.randn(1, 5, 64, 96)
    results = {}
    for enabled in (False, True):
        torch.manual_seed(0)
        cfg = make_cfg(BASE_CONFIG, "MODEL.MIT.GRAD_CHECKPOINT", str(enabled))
        backbone = build_backbone(cfg, ShapeSpec(channels=5)).train()
        calls = []
        attention = backbone.bottom_up.aux.stages[0].blocks[0].attn
        attention.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        loss = sum(f.square().mean() for f in backbone(x).values())
        loss.backward()
        grads = {n: p.grad for n, p in backbone.named_parameters()}
        results[enabled] = (len(calls), loss, grads)
    (calls_off, loss_off, grads_off), (calls_on, loss_on, grads_on) = results.values()
    assert (calls_off, calls_on) == (1, 2)
    last_block = backbone.bottom_up.rgb.stages[3].blocks[-1]
    assert last_block.drop_path1.drop_prob == pytest.approx(0.1)  # stochastic depth is on
    torch.testing.assert_close(loss_on, loss_off, rtol=0, atol=0)
    assert grads_on.keys() == grads_off.keys()
    for name, grad in grads_off.items():
        assert grad is not None, name
        torch.testing.assert_close(grads_on[name], grad, rtol=0, atol=0, msg=name)
