"""Opt-in ``torch.compile`` of the two-stream encoder (``MODEL.COMPILE.*``).

Only the bottom-up backbone (both MiT streams and the fusion blocks) is compiled: it is a
static graph of many small memory-bound ops (LayerNorm, GELU, token <-> map copies) that a
compiler can fuse, while the detector heads have data-dependent shapes. Shapes are static
(``dynamic=False``): inductor's dynamic-shape path failed on this model in torch 2.14
(``cannot determine truth value of Relational``). Each padded input size, train/eval mode
and grad/no-grad combination is compiled once; a run meets a few dozen at most (multi-scale
training sizes x orientations, plus evaluation), so the recompile limit is raised from
torch's 8, past which it would silently run eager. ``nn.Module.compile`` works in place, so
parameter names, checkpoints and DDP are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch._dynamo
from detectron2.config import CfgNode
from torch import nn

RECOMPILE_LIMIT = 64
INDUCTOR_MODES = ("", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_backbone(model: nn.Module, cfg: CfgNode) -> nn.Module:
    """Compile ``model.backbone.bottom_up`` in place when MODEL.COMPILE.ENABLED; return
    ``model``. The first step at each input size pays the compilation (minutes on a CPU)."""
    if not cfg.MODEL.COMPILE.ENABLED:
        return model
    backend, mode = cfg.MODEL.COMPILE.BACKEND, cfg.MODEL.COMPILE.MODE
    backends = torch.compiler.list_backends(exclude_tags=())
    if backend not in backends:
        raise ValueError(f"MODEL.COMPILE.BACKEND {backend!r} is not one of {backends}")
    if mode and backend != "inductor":
        raise ValueError(
            f"MODEL.COMPILE.MODE {mode!r} applies to the inductor backend only; leave it "
            f"empty with {backend!r}"
        )
    if mode not in INDUCTOR_MODES:
        raise ValueError(f"MODEL.COMPILE.MODE {mode!r} is not one of {list(INDUCTOR_MODES)}")
    if cfg.MODEL.GAFF.GUIDANCE_WEIGHT > 0:
        raise ValueError(
            "MODEL.COMPILE.ENABLED with the guidance loss (MODEL.GAFF.GUIDANCE_WEIGHT > 0): "
            "GuidedRCNN reads the gates through forward hooks added at every step, and "
            "compiled code does not check for hooks, so a graph compiled without them would "
            "silently drop the loss; train guided models with MODEL.COMPILE.ENABLED False"
        )
    torch._dynamo.config.recompile_limit = max(
        torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT
    )
    model.backbone.bottom_up.compile(backend=backend, mode=mode or None, dynamic=False)
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
