"""Read the attention of the fusion blocks during a forward pass, through forward hooks.

The study guide saved tensors with ``torch.save`` lines inside the block; here the
model stays untouched and any caller (``tools/visualize_attention.py``, the guidance loss)
opens :func:`capture_attention` around its forward pass.
"""

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


def _record(
    entries: dict[str, torch.Tensor],
    name: str,
    reader: Reader,
    detach: bool,
    module: nn.Module,
    args: tuple,
    out: object,
) -> None:
    for key, value in reader(module, name, args, out).items():
        entries[key] = value.detach() if detach else value


@contextmanager
def capture_attention(model: nn.Module, detach: bool = True) -> Iterator[AttentionMaps]:
    """Yield a dict that every forward pass inside the ``with`` fills (the last pass wins).

    ``detach=False`` keeps the maps in the autograd graph (for a loss on them).
    """
    maps: AttentionMaps = {}
    handles = []
    for stage, block in fusion_blocks(model).items():
        for path, module in block.named_modules():
            reader = _READERS.get(type(module))
            if reader is not None:
                name = path.rsplit(".", 1)[-1]
                hook = partial(_record, maps.setdefault(stage, {}), name, reader, detach)
                handles.append(module.register_forward_hook(hook))
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()
