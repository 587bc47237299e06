"""Item 3: where the time of one training step goes. Forward hooks time the model's parts
(each also a ``record_function`` range, named alike in the profiler's op table); the step is
written out here because the trainer's offers no seam between backward and the optimiser.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import median

import torch
from torch import nn
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

from .timing import synchronize
from .workload import Workload

PROFILE_ROW_LIMIT = 30


class ComponentTimer:
    """Accumulates synchronised seconds per named span within a step; one dict per step."""

    def __init__(self, device: torch.device):
        self.device = device
        self.steps: list[dict[str, float]] = []
        self._current: dict[str, float] = defaultdict(float)
        self._open: list[contextlib.AbstractContextManager] = []  # forward calls nest

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        start = time.perf_counter()
        with record_function(name):
            yield
            synchronize(self.device)
        self._current[name] += time.perf_counter() - start

    def attach(self, name: str, module: nn.Module) -> list:
        """Time every forward call of ``module`` under ``name``; returns the hook handles."""

        def enter(mod, args):
            self._open.append(self.span(name))
            self._open[-1].__enter__()

        def leave(mod, args, output):
            self._open.pop().__exit__(None, None, None)

        return [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]

    def end_step(self) -> None:
        self.steps.append(dict(self._current))
        self._current.clear()


@dataclass(frozen=True)
class Breakdown:
    rows: list[tuple[str, float, float]]  # component, median seconds per step, share of step
    images_per_step: int
    profiler_table: str


def _step(workload: Workload, data: Iterator, timer: ComponentTimer) -> None:
    model, optimizer = workload.model, workload.trainer.optimizer
    with timer.span("data"):
        batch = next(data)
    with timer.span("forward"), workload.autocast():
        losses = sum(model(batch).values())
    with timer.span("backward"):
        losses.backward()
    with timer.span("optimizer"):
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    timer.end_step()


def _rows(steps: list[dict[str, float]]) -> list[tuple[str, float, float]]:
    """Derived components per step (exclusive times), then medians over steps."""
    derived: dict[str, list[float]] = defaultdict(list)
    for step in steps:
        s = defaultdict(float, step)
        parts = {
            "data loading (wait)": s["data"],
            "MiT streams (fwd)": s["bottom_up"] - s["fusion"],
            "fusion blocks (fwd)": s["fusion"],
            "FPN (fwd)": s["backbone+fpn"] - s["bottom_up"],
            "RPN (fwd)": s["rpn"],
            "ROI heads (fwd)": s["roi_heads"],
            "other fwd (preprocess, losses)": s["forward"]
            - s["backbone+fpn"]
            - s["rpn"]
            - s["roi_heads"],
            "backward (all)": s["backward"],
            "optimizer": s["optimizer"],
            "total step": s["data"] + s["forward"] + s["backward"] + s["optimizer"],
        }
        for name, value in parts.items():
            derived[name].append(value)
    total = median(derived["total step"])
    return [(name, median(values), median(values) / total) for name, values in derived.items()]


def measure_breakdown(
    workload: Workload, steps: int, warmup: int = 1, profile_steps: int = 2
) -> Breakdown:
    """Per-component medians over ``steps`` micro-batch steps (after ``warmup``), and the
    profiler's op table over ``profile_steps`` more. Batches come from the workload's loader
    (real or synthetic); with a real loader, "data loading" is the wait for the next batch."""
    data = iter(workload.trainer.data_loader)
    timer = ComponentTimer(workload.device)
    model = workload.model
    components = [
        ("backbone+fpn", model.backbone),
        ("bottom_up", model.backbone.bottom_up),
        *(("fusion", block) for block in model.backbone.bottom_up.fusion.values()),
        ("rpn", model.proposal_generator),
        ("roi_heads", model.roi_heads),
    ]
    handles = [h for name, module in components for h in timer.attach(name, module)]
    cuda = workload.device.type == "cuda"
    model.train()
    try:
        with workload.storage:
            for _ in range(warmup + steps):
                _step(workload, data, timer)
            activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
            with profile(activities=activities) as prof:
                for _ in range(profile_steps):
                    _step(workload, data, timer)
    finally:
        for handle in handles:
            handle.remove()
    sort_by = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=PROFILE_ROW_LIMIT)
    micro_batch = workload.images_per_step // workload.cfg.SOLVER.ACCUM_STEPS
    return Breakdown(_rows(timer.steps[warmup : warmup + steps]), micro_batch, table)
