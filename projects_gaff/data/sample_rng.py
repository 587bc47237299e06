"""Each training sample's random augmentation, drawn from (seed, position in the stream).

Detectron2 maps training samples with the global NumPy / Python / torch RNGs of whichever
process maps them: the main process (no loader workers), where they are also the model's,
or a worker seeded anew each time a loader starts. A resumed run therefore flipped other
frames than the run it continues. Seeding each sample from the data seed and its position
in the global stream of samples makes the augmentation the same whoever maps it, with any
number of workers or ranks, resumed or not, and leaves the model's RNG untouched.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DatasetError

# A training set where this many draws in a row are unreadable is not worth training on.
MAX_ATTEMPTS = 100


def sample_seed(seed: int, position: int, attempt: int = 0) -> int:
    """A 32-bit seed for one sample, independent across (seed, position, attempt)."""
    return int(np.random.SeedSequence([seed, position, attempt]).generate_state(1)[0])


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
    sample = sample_seed(seed, position, attempt)
    with forked_global_rngs():
        np.random.seed(sample)
        random.seed(sample)
        torch.manual_seed(sample)
        yield


class SeededMapDataset(Dataset):
    """Detectron2's ``MapDataset`` keyed by ``(position, index)`` instead of ``index``.

    ``mapper(dataset[index])`` runs inside :func:`sample_rng` of ``(seed, position)``; keys
    come from :class:`~projects_gaff.data.sampler.PositionedTrainingSampler`. A mapper that
    returns None (a skipped bad sample) is retried on another index drawn from
    ``(seed, position, attempt)``, so skipping is reproducible too.
    """

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
