"""The benchmark run behind ``tools/benchmark.py``: measure configs, write CSV + markdown.
``step_ratio`` is each config's training-step time over the first config's, the median of
per-round ratios (item 1 when the first config is the no-fusion baseline)."""

from __future__ import annotations

import dataclasses
import datetime
import gc
import itertools
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import torch
from detectron2.utils.analysis import FlopCountAnalysis

from ..atomic import atomic_write_csv, atomic_write_text
from ..engine import count_gflops, parameter_breakdown
from ..engine.compile import eager, is_compiled
from ..markdown import markdown_table
from .breakdown import Breakdown, measure_breakdown
from .timing import PeakMemory, interleave, memory_in_use_mb, round_ratios
from .workload import Workload, benchmark_cfg, build_workload


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
    """Item 2: matmul and backbone forward interleaved in one run; both rates and their ratio.

    Both count one multiply-add as 2 flops (fvcore counts 1, so its count is doubled). The
    backbone runs in fp32 without autocast, like the matmul it is compared with.
    """
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


TABLE_COLUMNS = [
    "name",
    "config",
    "device",
    "amp",
    "compiled",
    "backbone",
    "fusion_stages",
    "params_m",
    "gflops",
    "input_hw",
    "train_batch",
    "train_step_s",
    "train_img_s",
    "step_ratio",
    "step_ratio_min",
    "step_ratio_max",
    "infer_b1_ms",
    "infer_b1_fps",
    "infer_batch",
    "infer_bn_ms",
    "infer_bn_fps",
    "peak_mem_mb",
    "study_h",
]
ROOFLINE_COLUMNS = ["name", *(f.name for f in dataclasses.fields(Roofline))]
BREAKDOWN_COLUMNS = ["name", "component", "seconds", "share"]


@dataclass(frozen=True)
class Settings:
    """What to run; the defaults fit a 2-core CPU in a few minutes with mit_b0."""

    configs: list[str]
    opts: list[str]
    output: Path
    height: int = 320
    width: int = 400
    infer_batch: int = 4
    repeats: int = 5
    warmup: int = 2
    amp: str = "config"  # config | on | off | both
    compile: str = "config"  # config | on | off | both (MODEL.COMPILE.ENABLED)
    real_data: bool = False
    fp32_matmul: bool = False
    matmul_size: int = 2048
    breakdown: bool = False
    breakdown_steps: int = 5
    study_runs: int = 29
    study_frames: int = 7800
    study_epochs: int = 15
    command: str = ""


def _variants(mode: str, both: tuple[bool, bool]) -> list[bool | None]:
    """A config switch as configured (None), forced on or off, or both ways (in that order)."""
    return {"config": [None], "on": [True], "off": [False], "both": list(both)}[mode]


def _variant_name(config: str, amp: bool | None, compiled: bool | None) -> str:
    name = Path(config).stem
    name += "" if amp is None else ("+amp" if amp else "-amp")
    return name + ("" if compiled is None else ("+compile" if compiled else "-compile"))


def build_workloads(settings: Settings) -> tuple[list[Workload], dict[str, dict]]:
    """Build each (config, AMP, compile) variant in turn; its static facts and peak training
    memory are taken while it is the newest model, its warm-up steps (which also compile)
    run under :class:`PeakMemory`."""
    workloads, rows = [], {}
    for config in settings.configs:
        for amp, compiled in itertools.product(
            # within an AMP variant eager comes before compiled; step_ratio is always to the
            # first row (with --compile both alone: compiled / eager)
            _variants(settings.amp, both=(True, False)),
            _variants(settings.compile, both=(False, True)),
        ):
            cfg = benchmark_cfg(config, settings.opts, amp, compiled)
            name = _variant_name(config, amp, compiled)
            gc.collect()
            device = torch.device(cfg.MODEL.DEVICE)
            before = memory_in_use_mb(device)
            workload = build_workload(
                name, cfg, settings.height, settings.width, settings.real_data
            )
            if settings.breakdown and is_compiled(workload.model):
                raise ValueError(
                    f"{name}: --breakdown times modules with synchronising forward hooks, "
                    "which compilation would trace into the graph or split it at; measure "
                    "the breakdown with --compile off"
                )
            with PeakMemory(device) as peak:
                for _ in range(settings.warmup):
                    workload.train_step()
            bottom_up = workload.model.backbone.bottom_up
            rows[name] = {
                "name": name,
                "config": config,
                "device": _device_name(device),
                "amp": str(workload.amp_dtype).removeprefix("torch.")
                if workload.amp_dtype
                else "off",
                "compiled": is_compiled(workload.model),
                "backbone": cfg.MODEL.MIT.NAME,
                "fusion_stages": "".join(map(str, bottom_up.fusion_stages)) or "none",
                "params_m": parameter_breakdown(workload.model)["total"] / 1e6,
                "gflops": count_gflops(
                    workload.model, workload.channels, settings.height, settings.width
                ),
                "input_hw": f"{settings.height}x{settings.width}",
                "train_batch": workload.images_per_step,
                "infer_batch": settings.infer_batch,
                "peak_mem_mb": peak.peak_mb - before,
            }
            workloads.append(workload)
    return workloads, rows


def measure_speed(workloads: list[Workload], rows: dict[str, dict], settings: Settings) -> None:
    """Training steps, then inference at batch 1 and ``infer_batch``, each interleaved."""
    device = workloads[0].device
    train = interleave(
        {w.name: w.train_step for w in workloads}, device, settings.repeats, warmup=0
    )
    first = workloads[0].name
    batches = {
        (w.name, n): (w, w.inference_batch(n)) for w in workloads for n in (1, settings.infer_batch)
    }
    infer = interleave(
        {key: (lambda w=w, b=b: w.infer(b)) for key, (w, b) in batches.items()},
        device,
        settings.repeats,
        warmup=1,
    )
    study_images = settings.study_runs * settings.study_frames * settings.study_epochs
    for w in workloads:
        row = rows[w.name]
        step = median(train[w.name])
        b1, bn = median(infer[w.name, 1]), median(infer[w.name, settings.infer_batch])
        ratios = round_ratios(train[w.name], train[first])
        row.update(
            train_step_s=step,
            train_img_s=w.images_per_step / step,
            step_ratio=median(ratios),
            step_ratio_min=min(ratios),
            step_ratio_max=max(ratios),
            infer_b1_ms=1e3 * b1,
            infer_b1_fps=1 / b1,
            infer_bn_ms=1e3 * bn,
            infer_bn_fps=settings.infer_batch / bn,
            study_h=study_images * step / w.images_per_step / 3600,
        )


def run(settings: Settings) -> dict[str, Path]:
    """Measure everything ``settings`` asks for; write the CSV files and ``benchmark.md``."""
    torch.manual_seed(0)
    out = settings.output
    out.mkdir(parents=True, exist_ok=True)
    workloads, rows = build_workloads(settings)
    measure_speed(workloads, rows, settings)
    files = {"csv": out / "benchmark.csv", "markdown": out / "benchmark.md"}
    atomic_write_csv(files["csv"], TABLE_COLUMNS, rows.values())
    sections = [
        _header(settings, workloads[0].device),
        results_table(list(rows.values()), TABLE_COLUMNS),
    ]
    if settings.fp32_matmul:
        roofline_args = (settings.infer_batch, settings.matmul_size, settings.repeats)
        roofs = [
            {"name": w.name, **dataclasses.asdict(measure_roofline(w, *roofline_args))}
            for w in workloads
        ]
        files["roofline"] = out / "roofline.csv"
        atomic_write_csv(files["roofline"], ROOFLINE_COLUMNS, roofs)
        sections += ["## Backbone vs fp32 matmul (item 2)", results_table(roofs, ROOFLINE_COLUMNS)]
    if settings.breakdown:
        breakdowns = {w.name: measure_breakdown(w, settings.breakdown_steps) for w in workloads}
        files["breakdown"] = out / "breakdown.csv"
        atomic_write_csv(files["breakdown"], BREAKDOWN_COLUMNS, _breakdown_rows(breakdowns))
        for name, result in breakdowns.items():
            profile_file = out / f"profile_{name}.txt"
            atomic_write_text(profile_file, result.profiler_table)
            sections += [
                f"## Training step breakdown: {name} (item 3; {result.images_per_step} images)",
                results_table(_breakdown_rows({name: result}), BREAKDOWN_COLUMNS),
                f"Op-level profile: `{profile_file.name}`.",
            ]
    atomic_write_text(files["markdown"], "\n\n".join(sections) + "\n")
    return files


def results_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """``columns`` of each result row (floats to 4 significant digits, None as n/a)."""

    def cell(v: object) -> str:
        return "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    return markdown_table(columns, [[cell(row.get(c)) for c in columns] for row in rows])


def _breakdown_rows(breakdowns: dict[str, Breakdown]) -> list[dict]:
    return [
        {"name": name, "component": component, "seconds": seconds, "share": share}
        for name, result in breakdowns.items()
        for component, seconds, share in result.rows
    ]


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        tf32 = "on" if torch.backends.cuda.matmul.allow_tf32 else "off"
        return f"{torch.cuda.get_device_name(device)} (TF32 matmul {tf32})"
    return f"cpu x{torch.get_num_threads()} threads"


def _header(settings: Settings, device: torch.device) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Benchmark",
            "",
            f"- command: `{settings.command}`",
            f"- date: {when}; host: {platform.node()} ({platform.machine()}), "
            f"{_device_name(device)}; torch {torch.__version__}",
            f"- {settings.repeats} interleaved rounds after {settings.warmup} warm-up steps; "
            "medians; step_ratio = median (min, max) of per-round ratios to the first row",
            f"- gflops: fvcore, one multiply-add = 1 flop, one {settings.height}x"
            f"{settings.width} frame; peak_mem_mb: memory this config adds at its peak "
            "(CUDA: allocated tensors; CPU: resident set size, approximate)",
            f"- study_h: {settings.study_runs} runs x {settings.study_frames} frames x "
            f"{settings.study_epochs} epochs at train_img_s (training only, no evaluation)",
        ]
    )
