"""Resuming Detectron2's training data stream where a killed run left it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import DatasetFromList, build_detection_train_loader
from detectron2.data.samplers import TrainingSampler

from .sample_rng import SeededMapDataset


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

    @property
    def seed(self) -> int:
        """The shuffling seed (drawn as Detectron2 draws it when None was given)."""
        return self._seed

    def _this_ranks_share(self, stream: Iterable) -> Iterator:
        return itertools.islice(stream, self.skip + self._rank, None, self._world_size)

    def __iter__(self) -> Iterator[int]:
        yield from self._this_ranks_share(self._infinite_indices())


class PositionedTrainingSampler(ResumableTrainingSampler):
    """The same stream as ``(position in the global stream, dataset index)`` pairs: the
    keys of :class:`~projects_gaff.data.sample_rng.SeededMapDataset`."""

    def __iter__(self) -> Iterator[tuple[int, int]]:
        yield from self._this_ranks_share(enumerate(self._infinite_indices()))


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


def build_resumable_train_loader(
    cfg: CfgNode,
    dataset: list[dict],
    mapper: Callable[[dict], Any],
    start_iter: int = 0,
    seed: int | None = None,
) -> Iterable[list[dict]]:
    """Detectron2's training loader of micro-batches (``cfg.SOLVER.IMS_PER_BATCH /
    ACCUM_STEPS`` frames) whose iteration ``start_iter`` onwards is exactly that of an
    uninterrupted run with data seed ``seed`` (None draws one as Detectron2 does).

    The same frames (:func:`resume_position`), the same augmentation of each frame
    (:class:`SeededMapDataset`), and a loader with its own generator, so that starting it
    draws nothing from torch's global RNG, which the model's RPN / ROI sampling and
    dropout use and the checkpoint restores.
    """
    skip, drop = resume_position(
        start_iter, cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.ACCUM_STEPS, cfg.DATALOADER.NUM_WORKERS
    )
    sampler = PositionedTrainingSampler(len(dataset), seed=seed, skip=skip)
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
