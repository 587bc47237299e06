"""One optimisation step: gradient accumulation and autocast around Detectron2's loop."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict

import torch
from detectron2.engine import SimpleTrainer
from torch.nn.parallel import DistributedDataParallel


class AccumulatingTrainer(SimpleTrainer):
    """Detectron2's ``SimpleTrainer`` with ``accum_steps`` micro-batches per iteration.

    Each iteration averages the gradients of ``accum_steps`` micro-batches, then takes one
    optimiser step, so the LR schedule and the iteration count refer to optimiser steps.
    Under DDP only the last micro-batch synchronises gradients. ``amp_dtype`` turns on
    autocast (CUDA only); float16 adds a gradient scaler, bfloat16 needs none.
    Logged losses are the micro-batch means; Detectron2's check stops the run on NaN/inf.
    """

    def __init__(
        self,
        model,
        data_loader,
        optimizer,
        accum_steps: int = 1,
        amp_dtype: torch.dtype | None = None,
    ):
        super().__init__(model, data_loader, optimizer)
        if accum_steps < 1:
            raise ValueError(f"SOLVER.ACCUM_STEPS must be >= 1, got {accum_steps}")
        self.accum_steps = accum_steps
        self.amp_dtype = amp_dtype
        self.grad_scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    def run_step(self) -> None:
        assert self.model.training, "[AccumulatingTrainer] model was changed to eval mode!"
        self.optimizer.zero_grad(set_to_none=True)
        loss_sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros(()))
        data_time = 0.0
        for micro in range(self.accum_steps):
            start = time.perf_counter()
            data = next(self._data_loader_iter)
            data_time += time.perf_counter() - start
            sync = micro == self.accum_steps - 1 or not isinstance(
                self.model, DistributedDataParallel
            )
            with contextlib.ExitStack() as stack:
                if not sync:
                    stack.enter_context(self.model.no_sync())
                if self.amp_dtype is not None:
                    stack.enter_context(torch.autocast("cuda", dtype=self.amp_dtype))
                loss_dict = self.model(data)
                losses = sum(loss_dict.values()) / self.accum_steps
                (self.grad_scaler.scale(losses) if self.grad_scaler else losses).backward()
            for name, value in loss_dict.items():
                loss_sums[name] = loss_sums[name] + value.detach().float().cpu() / self.accum_steps
        self.after_backward()
        self._write_metrics(dict(loss_sums), data_time)
        if self.grad_scaler:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.grad_scaler:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if self.grad_scaler and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
