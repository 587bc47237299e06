"""Engine pieces that need no training run: epochs, atomic files, accumulation, checkpoints."""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, make_cfg
from detectron2.utils.events import EventStorage

from projects_gaff.atomic import AppendOnlyCsv, atomic_write_json, read_csv
from projects_gaff.engine import AccumulatingTrainer, StudyCheckpointer, resolve_epochs


@pytest.mark.parametrize(
    "frames, batch, epochs, steps, ipe, max_iter, expected_steps",
    [
        (269, 4, 4, [3], 68, 272, (204,)),
        (100, 16, 15, [10, 13, 20], 7, 105, (70, 91)),
        (32, 16, 2, [], 2, 4, ()),
    ],
)
def test_epochs_become_iterations(frames, batch, epochs, steps, ipe, max_iter, expected_steps):
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml")
    cfg.merge_from_list(
        ["SOLVER.IMS_PER_BATCH", batch, "SOLVER.EPOCHS", epochs, "SOLVER.STEP_EPOCHS", steps]
    )
    out = resolve_epochs(cfg, train_frames=frames)
    assert out.SOLVER.ITERS_PER_EPOCH == ipe
    assert out.SOLVER.MAX_ITER == max_iter
    assert tuple(out.SOLVER.STEPS) == expected_steps
    assert out.SOLVER.CHECKPOINT_PERIOD == ipe


def test_iteration_mode_keeps_max_iter():
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml", "SOLVER.EPOCHS", 0, "SOLVER.MAX_ITER", 123)
    out = resolve_epochs(cfg, train_frames=50)
    assert out.SOLVER.MAX_ITER == 123 and out.SOLVER.ITERS_PER_EPOCH == 4


def test_bad_schedules_are_refused():
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml", "SOLVER.IMS_PER_BATCH", 6, "SOLVER.ACCUM_STEPS", 4)
    with pytest.raises(ValueError, match=r"not divisible by SOLVER\.ACCUM_STEPS"):
        resolve_epochs(cfg, train_frames=10)
    with pytest.raises(ValueError, match="contain no frames"):
        resolve_epochs(make_cfg(CONFIGS / "gaff_s23.yaml"), train_frames=0)


def test_append_only_csv_drops_rows_after_the_checkpoint_and_torn_lines(tmp_path):
    path = tmp_path / "m.csv"
    log = AppendOnlyCsv(path, ["iteration", "loss"], keep=lambda r: True)
    for i in range(5):
        log.append({"iteration": i, "loss": 1.0 / (i + 1)})
    with open(path, "a") as f:
        f.write("5,0.1")  # a kill in the middle of a line
    assert [r["iteration"] for r in read_csv(path)] == ["0", "1", "2", "3", "4"]
    resumed = AppendOnlyCsv(path, ["iteration", "loss"], keep=lambda r: int(r["iteration"]) < 3)
    resumed.append({"iteration": 3, "loss": 0.5})
    assert [r["iteration"] for r in read_csv(path)] == ["0", "1", "2", "3"]
    assert read_csv(path)[-1]["loss"] == "0.5"


def test_atomic_json_leaves_no_partial_file(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert path.read_text().strip() == '{\n  "a": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


class _Regression(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, batch):
        x, y = batch
        return {"loss_mse": torch.nn.functional.mse_loss(self.linear(x), y)}


def test_accumulation_equals_one_large_batch():
    """Two micro-batches of 4 with ACCUM_STEPS=2 take the same step as one batch of 8."""
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    reference = _Regression()
    accumulated = _Regression()
    accumulated.load_state_dict(reference.state_dict())

    def step(model, loader, accum):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        trainer = AccumulatingTrainer(model, loader, optimizer, accum_steps=accum)
        trainer.iter = 0
        with EventStorage():
            trainer.run_step()

    step(reference, [(x, y)], 1)
    step(accumulated, [(x[:4], y[:4]), (x[4:], y[4:])], 2)
    for a, b in zip(reference.parameters(), accumulated.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_nan_loss_stops_training():
    model = _Regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = AccumulatingTrainer(
        model, [(torch.full((2, 3), float("nan")), torch.zeros(2, 1))], optimizer
    )
    trainer.iter = 0
    with EventStorage(), pytest.raises(FloatingPointError, match="infinite or NaN"):
        trainer.run_step()


def test_checkpoints_are_atomic_and_refuse_code(tmp_path):
    model = _Regression()
    checkpointer = StudyCheckpointer(model, str(tmp_path))
    checkpointer.save("model_0000001")
    checkpointer.save_best()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"  # best is not "last"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best_model.pth",
        "last_checkpoint",
        "model_0000001.pth",
    ]
    evil = tmp_path / "evil.pth"
    torch.save({"model": model.state_dict(), "hook": print}, evil)
    with pytest.raises(Exception, match=r"Weights only load failed|Unsupported global"):
        StudyCheckpointer(_Regression()).load(str(evil))


def test_best_model_is_repaired_after_a_kill_between_checkpoint_and_link(tmp_path):
    """Killed after model_0000007.pth (which records best = iteration 7) but before
    best_model.pth was re-linked: resuming re-links it and rewrites best_model.json."""
    import json
    from types import SimpleNamespace

    from projects_gaff.engine import StudyHook

    (tmp_path / "model_0000003.pth").write_bytes(b"epoch 1")
    (tmp_path / "model_0000007.pth").write_bytes(b"epoch 2")
    (tmp_path / "best_model.pth").write_bytes(b"epoch 1")
    (tmp_path / "best_model.json").write_text(
        json.dumps({"iteration": 3, "epoch": 1, "val_AP": 10.0})
    )
    hook = StudyHook(iters_per_epoch=4, eval_epochs=1, checkpoint_period=4, checkpoints_to_keep=2)
    hook.load_state_dict(
        {
            "best_ap": 20.0,
            "best_epoch": 2,
            "best_iteration": 7,
            "train_seconds": 1.0,
            "rng_torch": None,
        }
    )
    hook.trainer = SimpleNamespace(
        checkpointer=SimpleNamespace(save_dir=str(tmp_path)), max_iter=12
    )
    hook._reconcile_best()
    assert (tmp_path / "best_model.pth").read_bytes() == b"epoch 2"
    assert (tmp_path / "best_model.pth").stat().st_ino == (
        tmp_path / "model_0000007.pth"
    ).stat().st_ino
    assert json.loads((tmp_path / "best_model.json").read_text()) == {
        "iteration": 7,
        "epoch": 2,
        "val_AP": 20.0,
    }
