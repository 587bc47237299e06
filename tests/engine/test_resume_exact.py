"""``--resume`` reproduces the uninterrupted run: the same augmented frames, the same losses."""

from __future__ import annotations

import itertools
import random
import shutil

import numpy as np
import pytest
import torch
from conftest import QUICK, assert_ok, train_net

from projects_gaff.atomic import read_csv
from projects_gaff.data.errors import DatasetError
from projects_gaff.data.sample_rng import MAX_ATTEMPTS, SeededMapDataset, sample_rng


def _draws() -> tuple:
    return np.random.rand(), random.random(), torch.rand(()).item()


def test_sample_rng_depends_on_seed_and_position_only_and_restores_the_global_rngs():
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    with sample_rng(7, 3):
        first = _draws()
    assert torch.equal(torch.get_rng_state(), before[0])
    assert (np.random.get_state()[1] == before[1]).all() and random.getstate() == before[2]
    _draws()  # another global state: the sample's draws must not change
    with sample_rng(7, 3):
        assert _draws() == first
    with sample_rng(7, 4):
        assert _draws() != first
    with sample_rng(8, 3):
        assert _draws() != first


def test_a_skipped_sample_is_replaced_by_the_same_frame_every_time():
    bad = {0, 1, 2}
    dataset = [{"index": i} for i in range(8)]
    mapped = SeededMapDataset(dataset, lambda d: None if d["index"] in bad else d, seed=5)
    replacements = [mapped[(position, 0)]["index"] for position in range(20)]
    assert not bad & set(replacements)
    assert len(set(replacements)) > 1  # drawn, not always the same neighbour
    again = SeededMapDataset(dataset, lambda d: None if d["index"] in bad else d, seed=5)
    assert [again[(position, 0)]["index"] for position in range(20)] == replacements

    hopeless = SeededMapDataset(dataset, lambda d: None, seed=5)
    with pytest.raises(DatasetError, match=f"{MAX_ATTEMPTS} training samples in a row"):
        hopeless[(0, 0)]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_loader_yields_the_same_augmented_micro_batches(tiny_dataset, tmp_path, workers):
    """From iteration 4 on, the loader of a resumed run yields the very tensors (flips
    included) of the uninterrupted run, and starting it draws nothing from torch's global
    RNG (which the RPN / ROI samplers use and the checkpoint restores)."""
    from projects_gaff.engine import GAFFTrainer, setup_cfg

    opts = ["DATALOADER.NUM_WORKERS", str(workers), "INPUT.RANDOM_FLIP", "horizontal"]
    cfg = setup_cfg(QUICK, [*tiny_dataset, *opts, "OUTPUT_DIR", str(tmp_path)])

    def batches(start_iter: int, count: int) -> list[list[dict]]:
        loader = GAFFTrainer.build_train_loader(cfg, start_iter, seed=11)
        torch_state = torch.get_rng_state()
        taken = list(itertools.islice(loader, count))
        assert torch.equal(torch.get_rng_state(), torch_state)
        return taken

    np.random.seed(1)  # a new process: another global RNG state than the unbroken run's
    unbroken = batches(0, 8)
    np.random.seed(2)
    resumed = batches(4, 4)
    for expected, got in zip(unbroken[4:], resumed, strict=True):
        assert [d["file_name"] for d in got] == [d["file_name"] for d in expected]
        for e, g in zip(expected, got, strict=True):
            assert torch.equal(g["image"], e["image"])
            assert torch.equal(g["instances"].gt_boxes.tensor, e["instances"].gt_boxes.tensor)
    # The flip is random: some frame appears both flipped and not (else nothing is tested).
    images: dict[str, list[torch.Tensor]] = {}
    for d in itertools.chain(*unbroken):
        images.setdefault(d["file_name"], []).append(d["image"])
    assert any(
        not torch.equal(a, b) for seen in images.values() for a, b in itertools.pairwise(seen)
    )


def _losses(run) -> list[dict[str, float]]:
    return [
        {k: float(v) for k, v in row.items() if k == "total_loss" or k.startswith("loss_")}
        for row in read_csv(run / "metrics_per_batch.csv")
    ]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_run_reproduces_every_loss_of_the_uninterrupted_run(
    tiny_dataset, tmp_path, workers
):
    """A run stopped right after its epoch-1 checkpoint (iteration 3 of 8) and resumed logs
    the uninterrupted run's losses at every iteration (CPU; the CSV keeps 6 digits) and
    ends with its model."""
    args = [
        "--config-file", QUICK, *tiny_dataset, "DATALOADER.NUM_WORKERS", str(workers),
        "SOLVER.EPOCHS", "2", "SOLVER.CHECKPOINTS_TO_KEEP", "2",
    ]  # fmt: skip
    unbroken = tmp_path / "unbroken"
    assert_ok(train_net(*args, "OUTPUT_DIR", str(unbroken)))

    # The same run, stopped just after writing checkpoint model_0000003.pth.
    stopped = tmp_path / "stopped"
    shutil.copytree(unbroken, stopped)
    (stopped / "final_results.json").unlink()
    for name in ("model_0000007.pth", "model_final.pth"):
        (stopped / "checkpoints" / name).unlink()
    (stopped / "checkpoints" / "last_checkpoint").write_text("model_0000003.pth")
    for name, rows in (("metrics_per_batch.csv", 4), ("metrics_per_epoch.csv", 1)):
        lines = (stopped / name).read_text().splitlines(keepends=True)
        (stopped / name).write_text("".join(lines[: 1 + rows]))

    assert_ok(train_net("--resume", *args, "OUTPUT_DIR", str(stopped)))
    assert "Starting training from iteration 4" in (stopped / "training.log").read_text()
    expected, got = _losses(unbroken), _losses(stopped)
    assert len(expected) == len(got) == 8
    for iteration, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g == pytest.approx(e, rel=1e-5), f"iteration {iteration}"
    # The model it ends with: the same validation losses after the last epoch (the tiny
    # run's AP is 0, which would not tell).
    expected, got = (read_csv(run / "metrics_per_epoch.csv")[-1] for run in (unbroken, stopped))
    val_losses = [k for k in expected if k.startswith("val_") and "loss" in k]
    assert val_losses and all(float(expected[k]) > 0 for k in val_losses)
    assert {k: float(got[k]) for k in val_losses} == pytest.approx(
        {k: float(expected[k]) for k in val_losses}, rel=1e-5
    )
