"""One optimisation step: gradient accumulation on top of Detectron2's ``AMPTrainer``."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict

import torch
from detectron2.engine import AMPTrainer
from torch.nn.parallel import DistributedDataParallel


class AccumulatingTrainer(AMPTrainer):
    """``AMPTrainer`` averaging ``accum_steps`` micro-batches per optimiser step (DDP syncs on
    the last). The step is ours because AMPTrainer's takes one batch and needs CUDA; the
    scaler is a pass-through except in float16, so one step serves fp32, bf16 and fp16."""

    def __init__(
        self,
        model,
        data_loader,
        optimizer,
        accum_steps: int = 1,
        amp_dtype: torch.dtype | None = None,
    ):
        if accum_steps < 1:
            raise ValueError(f"SOLVER.ACCUM_STEPS must be >= 1, got {accum_steps}")
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        super().__init__(model, data_loader, optimizer, grad_scaler=scaler, precision=amp_dtype)
        self.accum_steps = accum_steps

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
                if self.precision is not None:
                    stack.enter_context(torch.autocast("cuda", dtype=self.precision))
                loss_dict = self.model(data)
                losses = sum(loss_dict.values()) / self.accum_steps
                self.grad_scaler.scale(losses).backward()
            for name, value in loss_dict.items():
                loss_sums[name] = loss_sums[name] + value.detach().float().cpu() / self.accum_steps
        self.after_backward()
        self._write_metrics(dict(loss_sums), data_time)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()

    def load_state_dict(self, state_dict: dict) -> None:
        # Checkpoints written before this class derived from AMPTrainer hold no scaler
        # state unless they trained in float16.
        super().load_state_dict({"grad_scaler": {}, **state_dict})
