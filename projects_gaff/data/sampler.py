"""Resuming Detectron2's training data stream where a killed run left it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from detectron2.data.samplers import TrainingSampler


class ResumableTrainingSampler(TrainingSampler):
    """Detectron2's infinite stream of per-epoch permutations, started ``skip`` indices in.

    Detectron2's loader restarts its stream on resume, so a run resumed at iteration k
    re-reads the first frames of epoch 1 and its epochs stop being permutations of the
    training set. Skipping indices of the global stream (before each rank takes its share)
    continues the very same stream, given the same seed; :func:`resume_position` says how
    many.
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


def resume_position(
    start_iter: int, ims_per_batch: int, accum_steps: int, num_workers: int
) -> tuple[int, int]:
    """(indices to skip in the sampler, micro-batches to drop from the new loader).

    Detectron2 deals the stream out to the loader's workers in chunks of one micro-batch,
    and with aspect-ratio grouping takes one frame from each worker in turn, so the frames
    of the first m micro-batches are a prefix of the stream only when m is a multiple of
    the number of workers. The resumed loader therefore starts at the last whole round of
    workers and drops the micro-batches of the partial round, which it deals out exactly as
    the killed run did.
    """
    micro_batches = start_iter * accum_steps
    workers = max(num_workers, 1)
    rounds, partial = divmod(micro_batches, workers)
    return rounds * workers * (ims_per_batch // accum_steps), partial


class DropFirst:
    """An iterable over ``loader`` without its first ``count`` items."""

    def __init__(self, loader: Iterable, count: int):
        self.loader, self.count = loader, count

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.loader), self.count, None)
