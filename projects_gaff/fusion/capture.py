"""Read the attention of the fusion blocks during a forward pass through forward hooks, so
the model stays untouched (the study guide saved tensors from inside the block)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import torch
from torch import nn

from .cssa import ECA, SpatialAttention
from .gaff import InterModalityAttention, SEBlock
from .gated import FusionGate

# stage -> name -> tensor. Channel weights are (B, C): "se_rgb", "se_aux" (GAFF SE),
# "eca_rgb", "eca_aux" (CSSA). Spatial maps are (B, C or 1, H, W) at the stage's resolution:
# "rgb<-aux", "aux<-rgb" (GAFF inter-modality gates), "gate" (gated fusion), "spatial" (CSSA).
AttentionMaps = dict[int, dict[str, torch.Tensor]]
GATE_NAMES = ("rgb<-aux", "aux<-rgb")

Reader = Callable[[nn.Module, str, tuple, object], dict[str, torch.Tensor]]
_READERS: dict[type, Reader] = {
    SEBlock: lambda module, name, args, out: {name: module.channel_weights(args[0])},
    ECA: lambda module, name, args, out: {name: out},
    InterModalityAttention: lambda module, name, args, out: dict(zip(GATE_NAMES, out, strict=True)),
    FusionGate: lambda module, name, args, out: {name: out},
    SpatialAttention: lambda module, name, args, out: {name: out},
}


def fusion_blocks(model: nn.Module) -> dict[int, nn.Module]:
    """Stage -> fusion module of a detector, an FPN backbone or a ``TwoStreamMiT``."""
    module = getattr(model, "module", model)  # DistributedDataParallel
    module = getattr(module, "backbone", module)
    module = getattr(module, "bottom_up", module)
    return {int(stage): block for stage, block in module.fusion.items()}


@contextmanager
def capture_attention(model: nn.Module, detach: bool = True) -> Iterator[AttentionMaps]:
    """Yield a dict that every forward pass inside the ``with`` fills (the last pass wins).

    ``detach=False`` keeps the maps in the autograd graph (for a loss on them).
    """
    maps: AttentionMaps = {}

    def record(entries: dict, name: str, module: nn.Module, args: tuple, out: object) -> None:
        for key, value in _READERS[type(module)](module, name, args, out).items():
            entries[key] = value.detach() if detach else value

    handles = [
        module.register_forward_hook(
            partial(record, maps.setdefault(stage, {}), path.rsplit(".", 1)[-1])
        )
        for stage, block in fusion_blocks(model).items()
        for path, module in block.named_modules()
        if type(module) in _READERS
    ]
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()
