"""Opt-in ``torch.compile`` of the two-stream encoder (``MODEL.COMPILE.*``).

Only the bottom-up backbone (both MiT streams and the fusion blocks) is compiled: it is a
static graph of many small memory-bound ops (LayerNorm, GELU, token <-> map copies) that a
compiler can fuse, while the detector heads have data-dependent shapes. Shapes are static
(``dynamic=False``): inductor's dynamic-shape path failed on this model in torch 2.14
(``cannot determine truth value of Relational``), and frames of one dataset come in a few
padded sizes, each compiled once. ``nn.Module.compile`` works in place, so parameter names,
checkpoints and DDP are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from detectron2.config import CfgNode
from torch import nn


def compile_backbone(model: nn.Module, cfg: CfgNode) -> nn.Module:
    """Compile ``model.backbone.bottom_up`` in place when MODEL.COMPILE.ENABLED; return
    ``model``. The first step at each input size pays the compilation (minutes on a CPU)."""
    if cfg.MODEL.COMPILE.ENABLED:
        model.backbone.bottom_up.compile(
            backend=cfg.MODEL.COMPILE.BACKEND, mode=cfg.MODEL.COMPILE.MODE or None, dynamic=False
        )
    return model


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module`` or one of its submodules runs through ``torch.compile``."""
    return any(_compiled_call(m) is not None for m in module.modules())


@contextmanager
def eager(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module``'s compiled submodules eagerly inside the block.

    fvcore counts flops with ``torch.jit.trace``, which refuses dynamo-compiled code even
    under ``torch.compiler.set_stance("force_eager")``; detaching the compiled call (a
    private attribute of ``nn.Module.compile``) is the one way around it.
    """
    compiled = [(m, _compiled_call(m)) for m in module.modules() if _compiled_call(m)]
    for m, _ in compiled:
        m._compiled_call_impl = None
    try:
        yield module
    finally:
        for m, call in compiled:
            m._compiled_call_impl = call


def _compiled_call(module: nn.Module):
    return getattr(module, "_compiled_call_impl", None)
