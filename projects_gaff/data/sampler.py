"""The training sampler that lets a resumed run see the frames an uninterrupted one would."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from detectron2.data.samplers import TrainingSampler


class ResumableTrainingSampler(TrainingSampler):
    """Detectron2's infinite stream of per-epoch permutations, started ``skip`` indices in.

    Detectron2's loader restarts its stream on resume, so a run resumed at iteration k
    re-reads the first frames of epoch 1 and its epochs stop being permutations of the
    training set. Skipping the ``k * SOLVER.IMS_PER_BATCH`` indices the killed run had
    consumed (over all ranks, before this rank's share is taken) continues the very same
    stream, given the same seed.
    """

    def __init__(self, size: int, seed: int | None, skip: int = 0):
        super().__init__(size, shuffle=True, seed=seed)
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        yield from itertools.islice(
            self._infinite_indices(), self.skip + self._rank, None, self._world_size
        )
