"""Load local ImageNet MiT weights (NVlabs or Hugging Face layout; nothing is downloaded)
into the two streams. Hugging Face names are renamed to NVlabs ones, which timm's own PVTv2
filter then maps to the encoder's names."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from timm.models.pvt_v2 import checkpoint_filter_fn as _timm_pvt_v2_filter
from torch import nn

logger = logging.getLogger(__name__)

# Hugging Face hub names (``nvidia/mit-bX``) -> NVlabs names, applied after the
# ``segformer.`` / ``encoder.`` prefixes are stripped. Order matters: most specific first.
_HF_RENAMES = (
    (r"^patch_embeddings\.(\d+)\.layer_norm\.", "patch_embed{0}.norm."),
    (r"^patch_embeddings\.(\d+)\.proj\.", "patch_embed{0}.proj."),
    (r"^layer_norm\.(\d+)\.", "norm{0}."),
    (r"^block\.(\d+)\.", "block{0}."),
)
_HF_BLOCK_RENAMES = (
    ("attention.self.query.", "attn.q."),
    ("attention.self.sr.", "attn.sr."),
    ("attention.self.layer_norm.", "attn.norm."),
    ("attention.output.dense.", "attn.proj."),
    ("layer_norm_1.", "norm1."),
    ("layer_norm_2.", "norm2."),
    ("mlp.dense1.", "mlp.fc1."),
    ("mlp.dense2.", "mlp.fc2."),
)
_IGNORED_PREFIXES = ("head.", "classifier.", "decode_head.")


def _rename_hf_key(key: str) -> str:
    key = re.sub(r"^(segformer\.)?encoder\.", "", key)
    for pattern, template in _HF_RENAMES:
        match = re.match(pattern, key)
        if match:
            key = template.format(int(match.group(1)) + 1) + key[match.end() :]
            break
    for old, new in _HF_BLOCK_RENAMES:
        key = key.replace(old, new)
    return key


def rename_nvlabs_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """NVlabs MiT names (``patch_embed2.proj``, ``block1.0.mlp.dwconv.dwconv``, ``norm1``),
    also those of this project's encoder before it came from timm, to timm's PVTv2 names;
    a state dict that already has timm's names is returned as it is."""
    return _timm_pvt_v2_filter(state_dict, None)


def checkpoint_filter_fn(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an NVlabs or Hugging Face MiT state dict onto :class:`MixVisionTransformer` names.

    Classifier heads are dropped; Hugging Face's separate key/value projections are stacked
    into NVlabs' ``kv`` (keys first), the order its attention splits them in.
    """
    for wrapper in ("state_dict", "model"):
        if isinstance(state_dict.get(wrapper), dict):
            state_dict = state_dict[wrapper]
    out: dict[str, torch.Tensor] = {}
    pending_kv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        key = _rename_hf_key(key)
        match = re.match(r"(.*)attention\.self\.(key|value)\.(weight|bias)$", key)
        if match:
            prefix, which, kind = match.groups()
            pending_kv.setdefault(f"{prefix}attn.kv.{kind}", {})[which] = value
            continue
        out[key] = value
    for key, parts in pending_kv.items():
        if set(parts) != {"key", "value"}:
            raise ValueError(f"checkpoint has only the {sorted(parts)} half of {key}")
        out[key] = torch.cat([parts["key"], parts["value"]], dim=0)
    return rename_nvlabs_keys(out)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file or a torch checkpoint, refusing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MiT weights {path} do not exist; set MODEL.MIT.WEIGHTS to a local mit_bX.pth "
            "or nvidia/mit-bX model.safetensors file, or to '' for random initialisation"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def adapt_stem_weight(rgb_weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """First-conv kernel for ``in_chans`` inputs: the RGB kernel's mean per channel, scaled
    by 3 / in_chans, so grey in every channel gives the RGB kernel's response to grey."""
    mean = rgb_weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, in_chans, 1, 1) * (3.0 / in_chans)


@dataclass
class LoadReport:
    """What one stream took from a checkpoint."""

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]


def load_into_stream(stream: nn.Module, weights: dict[str, torch.Tensor]) -> LoadReport:
    """Copy matching tensors into ``stream``; adapt the stem conv to its channel count."""
    own = stream.state_dict()
    matched: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if key not in own:
            continue
        if key == "patch_embed.proj.weight" and value.shape[1] != own[key].shape[1]:
            value = adapt_stem_weight(value, own[key].shape[1])
        if value.shape != own[key].shape:
            raise ValueError(
                f"{key}: checkpoint shape {tuple(value.shape)} != model shape "
                f"{tuple(own[key].shape)}; is MODEL.MIT.NAME the size these weights were "
                "trained for?"
            )
        matched[key] = value
    stream.load_state_dict(matched, strict=False)
    unexpected = [key for key in weights if key not in own]
    return LoadReport(sorted(matched), sorted(set(own) - set(matched)), unexpected)


def load_mit_weights(streams: dict[str, nn.Module], path: str | Path) -> dict[str, LoadReport]:
    """Load one MiT checkpoint into every stream; fail loudly when nothing matched."""
    weights = checkpoint_filter_fn(read_state_dict(path))
    reports = {name: load_into_stream(stream, weights) for name, stream in streams.items()}
    for name, report in reports.items():
        if not report.loaded:
            raise ValueError(
                f"no tensor of {path} matched the {name} stream's MiT parameters "
                f"(first keys: {list(weights)[:5]}); expected an NVlabs mit_bX.pth or a "
                "Hugging Face nvidia/mit-bX file"
            )
        logger.info(
            "MiT weights %s -> %s stream: %d loaded, %d missing, %d unexpected",
            path,
            name,
            len(report.loaded),
            len(report.missing),
            len(report.unexpected),
        )
        if report.missing:
            logger.warning("%s stream keeps its initialisation for: %s", name, report.missing)
    return reports
