"""Resuming Detectron2's training data stream where a killed run left it: the same frames,
and the same random augmentation of each.

Detectron2 restarts its sample stream on resume, and maps samples with the global RNGs of
whichever process maps them (the main one, where they are also the model's, or a worker
seeded anew at each loader start). Here the stream skips what the killed run consumed, and
each sample's RNGs are seeded from (data seed, its position in the global stream), so its
augmentation is the same with any number of workers or ranks, and the model's RNG is untouched.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetFromList, build_detection_train_loader
from detectron2.data.samplers import TrainingSampler
from torch.utils.data import Dataset

from .errors import DatasetError

# A training set where this many draws in a row are unreadable is not worth training on.
MAX_ATTEMPTS = 100


@contextlib.contextmanager
def forked_global_rngs() -> Iterator[None]:
    """The global Python, NumPy and torch (CPU) RNGs as they were, once the block is done."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


@contextlib.contextmanager
def sample_rng(seed: int, position: int, attempt: int = 0) -> Iterator[None]:
    """The global NumPy, Python and torch (CPU) RNGs seeded for one sample, then restored."""
    sample = int(np.random.SeedSequence([seed, position, attempt]).generate_state(1)[0])
    with forked_global_rngs():
        np.random.seed(sample)
        random.seed(sample)
        torch.manual_seed(sample)
        yield


class SeededMapDataset(Dataset):
    """Detectron2's ``MapDataset`` keyed by ``(position, index)``, mapping inside
    :func:`sample_rng`; a skipped bad sample (None) is replaced by another index drawn from
    ``(seed, position, attempt)``, so skipping is reproducible too."""

    def __init__(self, dataset: Sequence[dict], mapper: Callable[[dict], Any], seed: int):
        self.dataset, self.mapper, self.seed = dataset, mapper, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        position, index = key
        for attempt in range(MAX_ATTEMPTS):
            with sample_rng(self.seed, position, attempt):
                mapped = self.mapper(self.dataset[index])
                if mapped is not None:
                    return mapped
                index = int(np.random.randint(len(self.dataset)))
        raise DatasetError(
            f"{MAX_ATTEMPTS} training samples in a row were skipped as unreadable. Fix: "
            "repair or remove the files named in the warnings above"
        )


class ResumableTrainingSampler(TrainingSampler):
    """Detectron2's infinite stream of per-epoch permutations, started ``skip`` indices in
    (skipped in the global stream, before each rank takes its share); ``positioned`` yields
    ``(position in the global stream, index)``, the keys of :class:`SeededMapDataset`."""

    def __init__(self, size: int, seed: int | None, skip: int = 0, positioned: bool = False):
        super().__init__(size, shuffle=True, seed=seed)
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        self.skip, self.positioned = skip, positioned

    @property
    def seed(self) -> int:
        """The shuffling seed (drawn as Detectron2 draws it when None was given)."""
        return self._seed

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
        stream = self._infinite_indices()
        stream = enumerate(stream) if self.positioned else stream
        yield from itertools.islice(stream, self.skip + self._rank, None, self._world_size)


def resume_position(
    start_iter: int, ims_per_batch: int, accum_steps: int, num_workers: int
) -> tuple[int, int]:
    """(indices to skip in the sampler, micro-batches to drop from the new loader).

    Detectron2 deals the stream to the workers in micro-batch chunks and, with aspect-ratio
    grouping, takes one frame from each worker in turn, so the first m micro-batches are a
    prefix of the stream only when m is a multiple of the workers: the resumed loader starts
    at the last whole round and drops the micro-batches of the partial one.
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


def build_resumable_train_loader(
    cfg: CfgNode,
    dataset: list[dict],
    mapper: Callable[[dict], Any],
    start_iter: int = 0,
    seed: int | None = None,
) -> Iterable[list[dict]]:
    """Detectron2's training loader of micro-batches (``IMS_PER_BATCH / ACCUM_STEPS``
    frames) whose iteration ``start_iter`` onwards is exactly that of an uninterrupted run
    with data seed ``seed`` (None: drawn as Detectron2 does). The loader has its own
    generator, so starting it draws nothing from torch's global RNG (the model's)."""
    skip, drop = resume_position(
        start_iter, cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.ACCUM_STEPS, cfg.DATALOADER.NUM_WORKERS
    )
    sampler = ResumableTrainingSampler(len(dataset), seed=seed, skip=skip, positioned=True)
    loader = build_detection_train_loader(
        # DatasetFromList keeps the dicts serialised: no copy-on-read growth in workers.
        dataset=SeededMapDataset(DatasetFromList(dataset, copy=False), mapper, sampler.seed),
        mapper=None,
        sampler=sampler,
        total_batch_size=cfg.SOLVER.IMS_PER_BATCH // cfg.SOLVER.ACCUM_STEPS,
        aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        seed=sampler.seed,
    )
    return DropFirst(loader, drop) if drop else loader
