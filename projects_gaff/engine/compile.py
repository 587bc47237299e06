"""Opt-in ``torch.compile`` of the two-stream encoder (``MODEL.COMPILE.*``).

Only the bottom-up backbone is compiled (many small fusable ops; the heads have
data-dependent shapes), in place, so parameter names and checkpoints are unchanged.
``dynamic=False``: inductor's dynamic shapes failed on this model in torch 2.14. A run meets
a few dozen input sizes and modes, so the recompile limit is raised from torch's 8, past
which it would silently run eager.
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
    return any(_compiled_call(m) is not None for m in module.modules())


@contextmanager
def eager(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module``'s compiled submodules eagerly inside the block: fvcore's
    ``torch.jit.trace`` refuses compiled code even under ``set_stance("force_eager")``."""
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
