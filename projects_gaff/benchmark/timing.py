"""Timing primitives for a noisy, shared machine: interleaved repeats and their medians.

Absolute times drift with whatever else runs on the machine, so every comparison runs its
candidates in alternation (A, B, A, B, ...) within one process and compares medians, or
medians of per-round ratios, never numbers from separate runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

_PAGE_SIZE = 4096


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so that wall time measures work done, not work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleave(
    fns: Mapping[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function over ``repeats`` rounds, one call of each per round,
    after ``warmup`` untimed rounds (allocator, autotuning, lazily built buffers)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            seconds = time_call(fn, device)
            if round_ >= warmup:
                times[name].append(seconds)
    return times


def round_ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios: the two calls of a round ran back to back, under similar load."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE_SIZE


def memory_in_use_mb(device: torch.device) -> float:
    """Allocated CUDA tensors, or the process's resident set size on the CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return _rss_bytes() / 2**20


class PeakMemory:
    """Peak memory while the ``with`` block runs, in MiB (:attr:`peak_mb`): on CUDA allocated
    tensors (exact), on the CPU the resident set size sampled every 2 ms (approximate)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        peak = _rss_bytes()
        while not self._stop.wait(0.002):
            peak = max(peak, _rss_bytes())
        self.peak_mb = max(peak, _rss_bytes()) / 2**20

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
