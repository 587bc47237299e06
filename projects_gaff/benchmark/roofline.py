"""Item 2: how close the two-stream backbone comes to this machine's fp32 matmul speed.

Both rates count one multiply-add as 2 flops (fvcore counts it as 1, so its count is
doubled). The backbone runs in fp32 without autocast, like the matmul it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

import torch
from detectron2.utils.analysis import FlopCountAnalysis

from ..engine.compile import eager
from .timing import interleave, round_ratios
from .workload import Workload


@dataclass(frozen=True)
class Roofline:
    matmul_size: int
    matmul_gflops_per_s: float
    backbone_batch: int
    backbone_gflop: float
    backbone_s: float
    backbone_gflops_per_s: float
    ratio: float  # median over rounds of (backbone GFLOP/s) / (matmul GFLOP/s)


def measure_roofline(
    workload: Workload, batch: int, matmul_size: int, repeats: int, warmup: int = 1
) -> Roofline:
    """Matmul and backbone forward interleaved in one run; returns both rates and their ratio."""
    device = workload.device
    a = torch.randn(matmul_size, matmul_size, device=device)
    b = torch.randn(matmul_size, matmul_size, device=device)
    # a normalised (B, 3 + aux, H, W) input at the padded size the backbone sees
    div = workload.model.backbone.size_divisibility
    h, w = (-(-s // div) * div for s in (workload.height, workload.width))
    x = torch.randn(batch, workload.channels, h, w, device=device)
    bottom_up = workload.model.backbone.bottom_up.eval()
    with torch.no_grad(), eager(bottom_up):
        analysis = FlopCountAnalysis(bottom_up, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        gflop = 2 * analysis.total() / 1e9

    def backbone() -> None:
        with torch.no_grad():
            bottom_up(x)

    times = interleave(
        {"matmul": lambda: torch.mm(a, b), "backbone": backbone}, device, repeats, warmup
    )
    matmul_gflop = 2 * matmul_size**3 / 1e9
    # achieved/peak = (gflop / t_backbone) / (matmul_gflop / t_matmul)
    ratio = median(
        round_ratios(
            [gflop * t for t in times["matmul"]], [matmul_gflop * t for t in times["backbone"]]
        )
    )
    backbone_s = median(times["backbone"])
    return Roofline(
        matmul_size=matmul_size,
        matmul_gflops_per_s=matmul_gflop / median(times["matmul"]),
        backbone_batch=batch,
        backbone_gflop=gflop,
        backbone_s=backbone_s,
        backbone_gflops_per_s=gflop / backbone_s,
        ratio=ratio,
    )
