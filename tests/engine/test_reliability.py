"""What happens when things go wrong: corrupt checkpoints, NaN losses, bad data."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import QUICK, assert_ok, train_net

from projects_gaff.atomic import read_csv


def _unfinished_copy(finished_run: Path, tmp_path: Path) -> Path:
    """The finished tiny run as a run killed just after its last checkpoint."""
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    (out / "final_results.json").unlink()
    return out


@pytest.mark.slow
def test_corrupt_last_checkpoint_falls_back_to_the_one_before(finished_run, tiny_dataset, tmp_path):
    out = _unfinished_copy(finished_run, tmp_path)
    checkpoints = out / "checkpoints"
    for name in ("model_0000007.pth", "model_final.pth"):  # a kill while writing them
        data = (checkpoints / name).read_bytes()
        (checkpoints / name).unlink()  # best_model.pth may be a hard link: keep it intact
        (checkpoints / name).write_bytes(data[: len(data) // 3])
    (checkpoints / "last_checkpoint").write_text("model_0000007.pth")

    result = train_net(
        "--config-file",
        QUICK,
        "--resume",
        *tiny_dataset,
        "SOLVER.EPOCHS",
        "2",
        "OUTPUT_DIR",
        str(out),
    )
    assert_ok(result)
    log = (out / "training.log").read_text()
    assert "model_0000007.pth is unreadable" in log
    assert "Starting training from iteration 4" in log
    assert [int(r["iteration"]) for r in read_csv(out / "metrics_per_batch.csv")] == list(range(8))
    assert [int(r["epoch"]) for r in read_csv(out / "metrics_per_epoch.csv")] == [1, 2]
    assert json.loads((out / "final_results.json").read_text())["iterations"] == 8
    # Detectron2's metrics.json: the first attempt's line of iteration 7 is dropped on resume.
    lines = (out / "metrics.json").read_text().splitlines()
    iterations = [json.loads(line)["iteration"] for line in lines]
    assert iterations == sorted(set(iterations)) and 7 in iterations


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    finished_run, tiny_dataset, tmp_path
):
    out = _unfinished_copy(finished_run, tmp_path)
    before = (out / "checkpoints" / "last_checkpoint").read_text()
    # A third epoch whose inputs overflow to inf: the loss is NaN at its first iteration.
    overflow = ["MODEL.PIXEL_STD", "[1e-38, 1e-38, 1e-38, 1e-38, 1e-38]"]
    args = ["--config-file", QUICK, "--resume", *tiny_dataset, "SOLVER.EPOCHS", "3", *overflow]
    result = train_net(*args, "OUTPUT_DIR", str(out))
    assert result.returncode == 3
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: training diverged") and "NaN" in message
    assert "rerun with --resume" in message
    assert "Starting training from iteration 8" in (out / "training.log").read_text()
    assert not (out / "final_results.json").exists()
    assert (out / "checkpoints" / "last_checkpoint").read_text() == before
    assert (out / "checkpoints" / before).is_file()
    assert [int(r["iteration"]) for r in read_csv(out / "metrics_per_batch.csv")] == list(range(8))


def _drop_label(folder: Path) -> tuple[Path, str]:
    victim = sorted(folder.glob("*.txt"))[5]
    victim.unlink()
    return victim, "create it"  # an empty label file marks a frame without objects


def _bad_yolo_row(folder: Path) -> tuple[Path, str]:
    victim = sorted(folder.glob("*.txt"))[2]
    victim.write_text("0 0.5 0.5 1.7 0.2\n")
    return victim, "[0, 1]"


def _wrong_channels(folder: Path) -> tuple[Path, str]:
    victim = sorted(folder.glob("*.npy"))[3]
    np.save(victim, np.zeros((160, 192, 3), np.uint8))
    return victim, "5"


@pytest.mark.slow
@pytest.mark.parametrize(
    "folder_key, damage",
    [("DATASETS.GAFF.LABELS", _drop_label), ("DATASETS.GAFF.LABELS", _bad_yolo_row),
     ("DATASETS.GAFF.IMAGES", _wrong_channels)],
)  # fmt: skip
def test_bad_data_names_the_file_and_the_fix(tiny_dataset, tmp_path, folder_key, damage):
    """Through tools/train_net.py: exit 2, the file and the fix named, no result file."""
    opts = list(tiny_dataset)
    at = opts.index(folder_key) + 1
    broken = tmp_path / "data"
    shutil.copytree(opts[at], broken)
    victim, fix = damage(broken)
    opts[at] = str(broken)
    out = tmp_path / "run"
    result = train_net("--config-file", QUICK, *opts, "OUTPUT_DIR", str(out))
    assert result.returncode == 2
    message = result.stderr[result.stderr.rindex("error:") :]
    assert str(victim) in message and fix in message
    assert not (out / "final_results.json").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")
@pytest.mark.parametrize("workers, accum", [(0, 1), (2, 2), (3, 1)])  # 3: a partial round
def test_resumed_run_continues_the_killed_runs_stream_of_frames(
    finished_run, tiny_dataset, tmp_path, workers, accum
):
    """Resumed at iteration 4, the loader yields the micro-batches that iteration 4 of one
    unbroken run got: with loader workers (Detectron2 shards the stream among them) and
    with gradient accumulation (ACCUM_STEPS micro-batches per iteration)."""
    from detectron2.utils.env import seed_all_rng

    from projects_gaff.engine import GAFFTrainer, setup_cfg

    out = _unfinished_copy(finished_run, tmp_path)
    (out / "checkpoints" / "last_checkpoint").write_text("model_0000003.pth")
    opts = ["DATALOADER.NUM_WORKERS", str(workers), "SOLVER.ACCUM_STEPS", str(accum)]
    cfg = setup_cfg(QUICK, [*tiny_dataset, *opts, "SOLVER.EPOCHS", "2", "OUTPUT_DIR", str(out)])

    def trainer_of_a_new_process(seed: int) -> GAFFTrainer:
        seed_all_rng(seed)  # as train_net.py's setup does with SEED
        return GAFFTrainer(cfg)

    def names(trainer: GAFFTrainer, iterations: int) -> list[list[str]]:
        loader = itertools.islice(trainer._trainer.data_loader, iterations * accum)
        return [[d["file_name"] for d in batch] for batch in loader]

    unbroken = names(trainer_of_a_new_process(cfg.SEED), 8)
    # Another RNG state (SEED -1 draws one per process): the stream's seed must come from
    # the checkpoint, not from this process.
    trainer = trainer_of_a_new_process(cfg.SEED + 999)
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 4
    resumed = names(trainer, 4)
    assert resumed == unbroken[4 * accum :]
    assert resumed != unbroken[: 4 * accum]  # Detectron2's own loader would restart here


def test_only_the_resumable_sampler_is_accepted(tiny_dataset):
    from projects_gaff.engine import GAFFTrainer, setup_cfg

    cfg = setup_cfg(
        QUICK, [*tiny_dataset, "DATALOADER.SAMPLER_TRAIN", "RepeatFactorTrainingSampler"]
    )
    with pytest.raises(ValueError, match="SAMPLER_TRAIN"):
        GAFFTrainer.build_train_loader(cfg)
