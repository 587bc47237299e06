"""ResumableTrainingSampler continues Detectron2's TrainingSampler stream exactly."""

from __future__ import annotations

import itertools

import pytest
from detectron2.data.samplers import TrainingSampler

from projects_gaff.data import DropFirst, ResumableTrainingSampler, resume_position


def _take(sampler, n: int) -> list[int]:
    return list(itertools.islice(iter(sampler), n))


def test_skip_continues_the_same_stream():
    full = _take(TrainingSampler(10, shuffle=True, seed=3), 40)
    assert _take(ResumableTrainingSampler(10, seed=3), 40) == full
    assert _take(ResumableTrainingSampler(10, seed=3, skip=7), 33) == full[7:]
    # Each epoch of the stream is a permutation: a skip inside epoch 1 ends it with the rest.
    assert sorted(full[:7] + _take(ResumableTrainingSampler(10, seed=3, skip=7), 3)) == list(
        range(10)
    )


def test_skip_is_taken_before_the_ranks_share(monkeypatch):
    """With W ranks, rank r continues at global position skip + r, step W."""
    stream = _take(TrainingSampler(12, seed=5), 48)
    for rank in range(2):
        monkeypatch.setattr("detectron2.utils.comm.get_rank", lambda r=rank: r)
        monkeypatch.setattr("detectron2.utils.comm.get_world_size", lambda: 2)
        sampler = ResumableTrainingSampler(12, seed=5, skip=8)
        assert _take(sampler, 10) == stream[8 + rank :: 2][:10]


def test_negative_skip_is_refused():
    with pytest.raises(ValueError, match="skip"):
        ResumableTrainingSampler(4, seed=0, skip=-1)


@pytest.mark.parametrize(
    "start_iter, ims, accum, workers, expected",
    [
        (4, 2, 1, 0, (8, 0)),  # in-process loading: skip exactly the frames used
        (4, 2, 1, 3, (6, 1)),  # 4 micro-batches = 1 round of 3 workers + 1 more
        (4, 2, 2, 2, (8, 0)),  # 8 micro-batches of 1 frame = 4 whole rounds of 2
        (5, 16, 4, 4, (80, 0)),
        (5, 16, 1, 4, (64, 1)),
    ],
)
def test_resume_position_skips_whole_worker_rounds(start_iter, ims, accum, workers, expected):
    assert resume_position(start_iter, ims, accum, workers) == expected


def test_drop_first_drops_on_every_iteration():
    dropped = DropFirst([1, 2, 3, 4], 1)
    assert list(dropped) == list(dropped) == [2, 3, 4]
