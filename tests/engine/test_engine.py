"""One experiment end to end: the study's files, resume after a kill, DDP, eval-only."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import QUICK, REPO_ROOT, TRAIN_NET, assert_ok, train_net

from projects_gaff.atomic import read_csv

COCO_KEYS = {"AP", "AP50", "AP75", "APs", "APm", "APl"}


@pytest.mark.slow
def test_run_writes_every_study_file(finished_run):
    out = finished_run
    for name in [
        "training.log", "config.yaml", "config.json", "splits.json", "model_info.json",
        "metrics_per_batch.csv", "metrics_per_epoch.csv", "metrics.json", "final_results.json",
        "checkpoints/best_model.pth", "checkpoints/best_model.json", "checkpoints/model_final.pth",
    ]:  # fmt: skip
        assert (out / name).is_file(), name
    assert list(out.glob("events.out.tfevents.*")), "TensorBoard writer missing"

    batches = read_csv(out / "metrics_per_batch.csv")
    assert [int(r["iteration"]) for r in batches] == list(range(8))
    assert [int(r["epoch"]) for r in batches] == [1] * 4 + [2] * 4
    assert [int(r["batch"]) for r in batches] == [1, 2, 3, 4] * 2
    for row in batches:
        losses = [
            float(row[k]) for k in ("loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc")
        ]
        assert float(row["total_loss"]) == pytest.approx(sum(losses), rel=1e-4)
        assert (
            float(row["step_time"]) > 0
            and float(row["peak_memory_mb"]) > 0
            and float(row["lr"]) > 0
        )

    epochs = read_csv(out / "metrics_per_epoch.csv")
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    first = [r for r in batches if r["epoch"] == "1"]
    mean = sum(float(r["total_loss"]) for r in first) / len(first)
    assert float(epochs[0]["train_total_loss"]) == pytest.approx(mean, rel=1e-4)
    assert all(float(r["val_total_loss"]) > 0 and r["val_AP"] != "" for r in epochs)

    final = json.loads((out / "final_results.json").read_text())
    assert set(final["test"]) >= COCO_KEYS and set(final["val"]) >= COCO_KEYS
    val_aps = [float(r["val_AP"]) for r in epochs]
    assert final["best_val_AP"] == pytest.approx(max(val_aps), abs=1e-3)
    assert final["best_epoch"] == val_aps.index(max(val_aps)) + 1
    assert [int(r["is_best"]) for r in epochs].count(1) >= 1
    assert final["iterations"] == 8 and final["epochs"] == 2
    assert final["training_hours"] > 0 and final["inference_fps"] > 0
    # The final numbers are the best checkpoint's, re-evaluated: val AP must match.
    assert final["val"]["AP"] == pytest.approx(final["best_val_AP"], abs=1e-3)
    best = json.loads((out / "checkpoints" / "best_model.json").read_text())
    assert best["epoch"] == final["best_epoch"] and best["iteration"] == final["best_iteration"]
    kept = sorted(p.name for p in (out / "checkpoints").glob("model_0*.pth"))
    assert kept == ["model_0000003.pth", "model_0000007.pth"]  # one per epoch, at most 2 kept

    info = json.loads((out / "model_info.json").read_text())
    params = info["parameters"]
    parts = ["rgb_stream", "aux_stream", "gaff_total", "fpn", "rpn", "roi_heads"]
    assert sum(params[p] for p in parts) == params["total"]
    assert params["gaff_stage2"] + params["gaff_stage3"] == params["gaff_total"]
    assert info["gflops"] > 0

    config = json.loads((out / "config.json").read_text())
    assert config["gaff_stages"] == [2, 3] and config["backbone"] == "mit_b0"
    assert config["iters_per_epoch"] == 4 and config["max_iter"] == 8 and config["epochs"] == 2
    splits = json.loads((out / "splits.json").read_text())
    assert set(splits) == {"tiny_train", "tiny_val", "tiny_test"}
    assert not set(splits["tiny_train"]["frames"]) & set(splits["tiny_test"]["frames"])


@pytest.mark.slow
def test_eval_only_reproduces_the_final_numbers(finished_run, tiny_dataset, tmp_path):
    weights = finished_run / "checkpoints" / "best_model.pth"
    result = train_net(
        "--config-file",
        QUICK,
        "--eval-only",
        *tiny_dataset,
        "MODEL.WEIGHTS",
        str(weights),
        "OUTPUT_DIR",
        str(tmp_path),
    )
    assert_ok(result)
    evaluated = json.loads((tmp_path / "eval_results.json").read_text())
    final = json.loads((finished_run / "final_results.json").read_text())
    assert evaluated["test"]["AP"] == pytest.approx(final["test"]["AP"], abs=1e-6)


@pytest.mark.slow
def test_resume_after_kill_continues_exactly(tiny_dataset, tmp_path):
    """SIGKILL right after the first epoch's checkpoint, then --resume: no row lost or doubled."""
    schedule = ["SOLVER.EPOCHS", "2", "SOLVER.STEP_EPOCHS", "[1]", "SOLVER.BASE_LR", "0.01"]
    args = ["--config-file", QUICK, *tiny_dataset, *schedule, "OUTPUT_DIR", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, TRAIN_NET, *args],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tag = tmp_path / "checkpoints" / "last_checkpoint"
    deadline = time.monotonic() + 240
    while not tag.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.3))  # somewhere in the second epoch's first iterations
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "final_results.json").exists()
    killed_rows = len(read_csv(tmp_path / "metrics_per_batch.csv"))
    assert killed_rows >= 4

    assert_ok(train_net("--resume", *args))
    log = (tmp_path / "training.log").read_text()
    assert "Starting training from iteration 4" in log
    batches = read_csv(tmp_path / "metrics_per_batch.csv")
    assert [int(r["iteration"]) for r in batches] == list(range(8))
    assert [int(r["epoch"]) for r in read_csv(tmp_path / "metrics_per_epoch.csv")] == [1, 2]
    lrs = [float(r["lr"]) for r in batches]
    assert lrs[2:4] == pytest.approx([0.01] * 2)
    # The schedule resumed at iteration 4 (after the step at epoch 1), not from warm-up.
    assert lrs[4:] == pytest.approx([0.001] * 4)
    final = json.loads((tmp_path / "final_results.json").read_text())
    val_aps = [float(r["val_AP"]) for r in read_csv(tmp_path / "metrics_per_epoch.csv")]
    assert final["best_val_AP"] == pytest.approx(max(val_aps), abs=1e-3)
    assert final["iterations"] == 8


@pytest.mark.slow
def test_miss_rate_evaluator_selects_the_best_checkpoint(tiny_dataset, tmp_path):
    """TEST.EVALUATORS with "miss_rate" and a miss-rate select metric (issue 13): MR columns
    in the epoch CSV, MR keys beside the COCO keys in final_results.json, and the best epoch
    is the one with the lowest validation miss rate."""
    metric = "MR_reasonable_all"
    evaluation = ["TEST.EVALUATORS", '["coco", "miss_rate"]', "TEST.SELECT_METRIC", metric]
    schedule = ["SOLVER.EPOCHS", "2"]
    out = tmp_path
    assert_ok(
        train_net(
            "--config-file", QUICK, *tiny_dataset, *evaluation, *schedule, "OUTPUT_DIR", str(out)
        )
    )
    epochs = read_csv(out / "metrics_per_epoch.csv")
    assert f"val_{metric}" in epochs[0] and "val_AP" in epochs[0]
    final = json.loads((out / "final_results.json").read_text())
    for split in ("val", "test"):
        assert COCO_KEYS <= set(final[split]) and metric in final[split]
    rates = [float(r[f"val_{metric}"]) for r in epochs]
    assert final[f"best_val_{metric}"] == pytest.approx(min(rates), abs=1e-3)
    assert final["best_epoch"] == rates.index(min(rates)) + 1
    assert [int(r["is_best"]) for r in epochs][final["best_epoch"] - 1] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tiny_dataset, tmp_path):
    result = train_net(
        "--config-file", QUICK, "--num-gpus", "2", "--dist-url", f"tcp://127.0.0.1:{_free_port()}",
        *tiny_dataset, "SOLVER.EPOCHS", "1", "OUTPUT_DIR", str(tmp_path),
    )  # fmt: skip
    assert_ok(result)
    log = (tmp_path / "training.log").read_text()
    assert "Rank 0 of 2" in log
    assert (tmp_path / "final_results.json").is_file()
    assert len(read_csv(tmp_path / "metrics_per_batch.csv")) == 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "opts, message",
    [
        (["MODEL.GAFF.FOO", "1"], "Non-existent key: MODEL.GAFF.FOO"),
        (["MODEL.GAFF.STAGES", "[5]"], "MiT stages are 1, 2, 3, 4"),
        (["MODEL.GAFF.SE_REDUCTION", "0"], "SE reduction 0"),
    ],
)
def test_config_errors_are_one_clear_line(tiny_dataset, tmp_path, opts, message):
    result = train_net("--config-file", QUICK, *tiny_dataset, "OUTPUT_DIR", str(tmp_path), *opts)
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_predictor_and_predict_tool(finished_run, tiny_dataset, tmp_path):
    from detectron2.data import DatasetCatalog

    from projects_gaff.data import read_frame
    from projects_gaff.engine import GAFFPredictor, setup_cfg

    weights = str(finished_run / "checkpoints" / "best_model.pth")
    cfg = setup_cfg(QUICK, [*tiny_dataset, "MODEL.WEIGHTS", weights], resolve=False)
    predictor = GAFFPredictor(cfg)
    record = DatasetCatalog.get("tiny_test")[0]
    frame = read_frame(record)
    assert frame.shape[2] == 5 and frame.dtype == "uint8"
    out = predictor(frame)["instances"]
    assert out.image_size == frame.shape[:2]  # original coordinates, though the model saw 96 px
    if len(out):
        boxes = out.pred_boxes.tensor
        assert (
            float(boxes[:, 2].max()) <= frame.shape[1]
            and float(boxes[:, 3].max()) <= frame.shape[0]
        )
    torch.testing.assert_close(predictor(frame)["instances"].scores, out.scores)  # deterministic
    with pytest.raises(ValueError, match="expected"):
        predictor(frame[:, :, :2])

    folder = Path(record["file_name"]).parent
    tool = [sys.executable, str(REPO_ROOT / "tools" / "predict.py"), "--config-file", QUICK]
    options = ["--weights", weights, "--input", str(folder), "--output", str(tmp_path)]
    drawing = ["--score-threshold", "0.0", "--max-pngs", "2"]
    result = subprocess.run(
        [*tool, *options, *drawing, *tiny_dataset],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    detections = json.loads((tmp_path / "detections.json").read_text())
    assert all(
        {"image_id", "file_name", "category_id", "bbox", "score"} <= set(d) for d in detections
    )
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 2
    import cv2

    picture = cv2.imread(str(pngs[0]))
    drawn = np.load(folder / f"{pngs[0].stem}.npy")
    panels = 3 if drawn[:, :, 4].any() else 2  # RGB | thermal [| event]
    scale = 2  # 160 px frames are enlarged to a legible 320 px
    width = panels * scale * drawn.shape[1] + (panels - 1) * 4
    assert picture.shape == (scale * drawn.shape[0], width, 3)
