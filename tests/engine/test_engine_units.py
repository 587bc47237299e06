"""Engine pieces that need no training run: epochs, atomic files, accumulation, checkpoints."""

from __future__ import annotations

import os
import stat

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
    # like every result file, readable by colleagues as the umask allows (not mkstemp's 0600)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "model_0000001.pth").stat().st_mode) == 0o666 & ~umask
    evil = tmp_path / "evil.pth"
    torch.save({"model": model.state_dict(), "hook": print}, evil)
    with pytest.raises(Exception, match=r"Weights only load failed|Unsupported global"):
        StudyCheckpointer(_Regression()).load(str(evil))


def _best_hook(folder, metric="AP", eval_period=4, max_iter=12):
    """A StudyBestCheckpointer on a folder, with a stand-in trainer (storage and iteration)."""
    from types import SimpleNamespace

    from projects_gaff.engine import StudyBestCheckpointer

    checkpointer = StudyCheckpointer(_Regression(), str(folder))
    hook = StudyBestCheckpointer(eval_period, checkpointer, metric, iters_per_epoch=4)
    hook.trainer = SimpleNamespace(max_iter=max_iter, iter=0, storage=None)
    return hook


def test_best_model_is_repaired_after_a_kill_between_checkpoint_and_link(tmp_path):
    """Killed after model_0000007.pth (which records best = iteration 7) but before
    best_model.pth was re-linked: resuming re-links it and rewrites best_model.json."""
    import json

    (tmp_path / "model_0000003.pth").write_bytes(b"epoch 1")
    (tmp_path / "model_0000007.pth").write_bytes(b"epoch 2")
    (tmp_path / "best_model.pth").write_bytes(b"epoch 1")
    (tmp_path / "best_model.json").write_text(
        json.dumps({"iteration": 3, "epoch": 1, "val_AP": 10.0})
    )
    hook = _best_hook(tmp_path)
    hook.load_state_dict({"best_metric": 20.0, "best_epoch": 2, "best_iteration": 7})
    hook.before_train()
    assert (tmp_path / "best_model.pth").read_bytes() == b"epoch 2"
    assert (tmp_path / "best_model.pth").stat().st_ino == (
        tmp_path / "model_0000007.pth"
    ).stat().st_ino
    assert json.loads((tmp_path / "best_model.json").read_text()) == {
        "iteration": 7,
        "epoch": 2,
        "val_AP": 20.0,
    }


def test_state_of_the_former_study_hook_still_resumes():
    from projects_gaff.engine.hooks import upgrade_hook_state

    old = {
        "iteration": 7,
        "hooks": {
            "StudyHook": {
                "best_ap": 20.0,
                "best_epoch": 2,
                "best_iteration": 7,
                "train_seconds": 3.0,
                "rng_torch": None,
                "rng_python": None,
                "rng_numpy": None,
            }
        },
    }
    hooks = upgrade_hook_state(old)["hooks"]
    assert hooks["StudyBestCheckpointer"] == {
        "best_metric": 20.0,
        "best_epoch": 2,
        "best_iteration": 7,
    }
    assert hooks["TrainingClock"] == {"train_seconds": 3.0}
    assert "StudyHook" not in hooks


@pytest.mark.parametrize(
    "metric, values, best",
    [
        ("AP", [10.0, 30.0, 30.0], [1, 1, 0]),  # ties keep the first epoch
        ("MR_reasonable_all", [40.0, 20.0, 25.0], [1, 1, 0]),  # lower is better
        ("AP", [None, 5.0, 4.0], [1, 1, 0]),  # no value yet: the latest validated epoch
    ],
)
def test_best_checkpoint_follows_the_select_metric_and_its_direction(
    tmp_path, metric, values, best
):
    hook = _best_hook(tmp_path, metric)
    decided = []
    with EventStorage() as storage:
        hook.trainer.storage = storage
        for epoch, value in enumerate(values):
            storage.iter = hook.trainer.iter = 4 * epoch + 3
            if value is not None:
                storage.put_scalar(f"val/{metric}", value, smoothing_hint=False)
            hook.after_step()
            decided.append(int(storage.latest()["is_best"][0]))
    assert decided == best
    expected = [v for v, b in zip(values, best, strict=True) if b][-1]
    assert hook.best_metric == expected


def test_an_epoch_without_validation_is_never_the_best(tmp_path):
    """TEST.EVAL_EPOCHS 2: epoch 1 has no validation, so no is_best (issue 17, item 9)."""
    hook = _best_hook(tmp_path, eval_period=8, max_iter=16)
    with EventStorage() as storage:
        hook.trainer.storage = storage
        storage.iter = hook.trainer.iter = 3  # end of epoch 1, not validated
        hook.after_step()
        assert "is_best" not in storage.latest()
        assert hook.best_iter is None
        storage.iter = hook.trainer.iter = 7  # end of epoch 2, validated
        storage.put_scalar("val/AP", 1.0, smoothing_hint=False)
        hook.after_step()
        assert storage.latest()["is_best"] == (1, 7) and hook.best_epoch == 2


def test_retention_keeps_the_last_and_links_final_and_best(tmp_path):
    """Default retention (1): after each save only the newest periodic file stays;
    model_final.pth and best_model.pth are hard links, not copies (issue 17, item 6)."""
    from types import SimpleNamespace

    from projects_gaff.engine import StudyPeriodicCheckpointer

    best = _best_hook(tmp_path, max_iter=12)
    hook = StudyPeriodicCheckpointer(best._checkpointer, period=4, keep=1, best=best)
    trainer = SimpleNamespace(max_iter=12, iter=0)
    hook.trainer = best.trainer = trainer
    hook.before_train()
    with EventStorage() as storage:
        best.trainer.storage = storage
        for iteration in range(12):
            storage.iter = trainer.iter = iteration
            if iteration == 3:
                storage.put_scalar("val/AP", 50.0, smoothing_hint=False)
            if iteration in (3, 7, 11):
                best.after_step()
            hook.after_step()
    names = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert names == ["best_model.pth", "model_0000011.pth", "model_final.pth"]
    final, last = tmp_path / "model_final.pth", tmp_path / "model_0000011.pth"
    assert final.stat().st_ino == last.stat().st_ino
    best_file = tmp_path / "best_model.pth"
    assert best_file.stat().st_ino != last.stat().st_ino  # epoch 1's, kept through the link
    assert torch.load(best_file, weights_only=True)["iteration"] == 3
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"


def test_metrics_json_is_cut_back_to_the_checkpoint(tmp_path):
    """A resumed run drops the killed attempt's lines from the checkpoint on (issue 17,
    item 5), and a torn last line."""
    import json

    from projects_gaff.engine.writers import trim_json_lines

    path = tmp_path / "metrics.json"
    lines = [json.dumps({"iteration": i, "loss": 1.0}) for i in (19, 39, 59)]
    path.write_text("\n".join(lines) + "\n" + '{"iteration": 79, "lo')
    trim_json_lines(str(path), 40)
    assert [json.loads(line)["iteration"] for line in path.read_text().splitlines()] == [19, 39]


def test_evaluators_come_from_the_config(monkeypatch):
    """TEST.EVALUATORS builds a DatasetEvaluators of the named ones; miss rates land beside
    the COCO keys in the flat metrics (issue 13); unknown names and metrics are refused."""
    from detectron2.evaluation import DatasetEvaluator

    from projects_gaff.engine import build_evaluator
    from projects_gaff.engine.evaluation import EVALUATORS, flat_metrics
    from projects_gaff.engine.trainer import check_select_metric

    class FakeMissRate(DatasetEvaluator):
        def __init__(self, dataset_name, output_dir=None):
            self.dataset_name = dataset_name

        def evaluate(self):
            return {"miss_rate": {"MR_reasonable_all": 12.5, "MR_reasonable_day": float("nan")}}

    monkeypatch.setitem(EVALUATORS, "miss_rate", FakeMissRate)
    cfg = make_cfg(CONFIGS / "gaff_s23.yaml", "TEST.EVALUATORS", ["miss_rate"])
    evaluators = build_evaluator(cfg, "gaff_demo_val")
    assert [type(e) for e in evaluators._evaluators] == [FakeMissRate]
    assert flat_metrics(evaluators.evaluate()) == {
        "MR_reasonable_all": 12.5,
        "MR_reasonable_day": None,
    }
    coco = {"bbox": {"AP": 40.0, "AP50": 60.0, "AP75": 30.0, "APs": float("nan")}}
    assert flat_metrics(coco) == {
        "AP": 40.0, "AP50": 60.0, "AP75": 30.0, "APs": None, "APm": None, "APl": None,
    }  # fmt: skip

    with pytest.raises(ValueError, match=r"TEST\.EVALUATORS"):
        build_evaluator(make_cfg(CONFIGS / "gaff_s23.yaml", "TEST.EVALUATORS", ["voc"]), "x")
    check_select_metric(make_cfg(CONFIGS / "gaff_s23.yaml"))
    wrong = make_cfg(CONFIGS / "gaff_s23.yaml", "TEST.SELECT_METRIC", "MR_reasonable_all")
    with pytest.raises(ValueError, match="SELECT_METRIC"):
        check_select_metric(wrong)


def test_a_resumed_tensorboard_stream_purges_the_overlap(tmp_path):
    """The resumed attempt's event file hides the killed attempt's events from the checkpoint
    on: TensorBoard shows one timeline (issue 17, item 5)."""
    from projects_gaff.engine.writers import ResumedTensorboardWriter

    writers = {start: ResumedTensorboardWriter(str(tmp_path / str(start)), lambda s=start: s)
               for start in (0, 40)}  # fmt: skip
    with EventStorage(40) as storage:
        storage.put_scalar("total_loss", 1.0)
        for writer in writers.values():
            writer.write()
            writer.close()
    assert "purge_step" not in writers[0]._writer_args
    assert writers[40]._writer_args["purge_step"] == 40
