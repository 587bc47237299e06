"""tools/ablate.py end to end on the tiny dataset (real trainings, mit_b0, CPU).

Phase 1 (exp_001 already finished, exp_002 trained) is SIGKILLed mid-training and rerun:
nothing finished is redone, the partial run resumes from its checkpoint. Phase 2 (top-1 on
val AP, through submitit's LocalExecutor) then trains one run while another, forced to
fail, is recorded FAILED. Finished phase-1 runs other than exp_002 are stand-ins (written
by the test) to keep the number of real trainings at two.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CONFIGS, REPO_ROOT

from projects_gaff.analysis.tables import count
from projects_gaff.atomic import read_csv
from projects_gaff.study.lock import pid_alive

pytestmark = pytest.mark.slow

ABLATE = str(REPO_ROOT / "tools" / "ablate.py")
P1 = Path("phase1_stage_selection")
P2 = Path("phase2_hyperparameter_tuning")


def ablate_argv(base: Path, tiny_dataset: list[str], *args: str) -> list[str]:
    config = str(CONFIGS / "quick" / "Base-quick.yaml")
    common = ["--config", config, "--output-base", str(base), "--epochs", "2"]
    return [sys.executable, ABLATE, *args, *common, *tiny_dataset]  # opts last (REMAINDER)


def summary(base: Path) -> dict[str, dict]:
    rows = read_csv(base / "summary_all_experiments.csv")
    return {f"{r['phase']}/{r['name']}": r for r in rows}


def _finished(base: Path, name: str, val_ap: float, test_ap: float) -> None:
    """A stand-in for a finished phase-1 run: what the engine writes when training ends."""
    target = base / P1 / name
    target.mkdir(parents=True)
    coco = {"AP50": 10.0, "AP75": 1.0, "APs": None, "APm": 1.0, "APl": 2.0}
    final = {
        "val": {"AP": val_ap, **coco}, "test": {"AP": test_ap, **coco},
        "training_hours": 0.01, "inference_fps": 5.0, "completed_at": "2026-01-01T00:00:00",
    }  # fmt: skip
    (target / "final_results.json").write_text(json.dumps(final))


@pytest.fixture(scope="module")
def phase1(tiny_dataset, tmp_path_factory) -> dict:
    """Phase 1 on exp_001 + exp_002, killed once exp_002 has a checkpoint, then rerun."""
    base = tmp_path_factory.mktemp("e2e") / "study"
    _finished(base, "exp_001_s1_r4_is0_mb0", val_ap=5.0, test_ap=6.0)
    argv = ablate_argv(base, tiny_dataset, "--phase", "1", "--only", "exp_001,exp_002")
    with open(base.parent / "first.log", "w") as console:
        runner = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=console, stderr=console)
        tag = base / P1 / "exp_002_s2_r4_is0_mb0" / "checkpoints" / "last_checkpoint"
        deadline = time.monotonic() + 300
        while not tag.is_file() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    assert runner.returncode == -signal.SIGKILL, (base.parent / "first.log").read_text()[-3000:]
    first_log = (base / "master_log.txt").read_text()
    child = int(re.search(r"START +exp_002_s2_r4_is0_mb0 \(pid (\d+)\)", first_log).group(1))
    deadline = time.monotonic() + 30
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    exp1 = base / P1 / "exp_001_s1_r4_is0_mb0" / "final_results.json"
    before = {"final": exp1.read_text(), "mtime": exp1.stat().st_mtime_ns}
    partial = not (base / P1 / "exp_002_s2_r4_is0_mb0" / "final_results.json").exists()

    rerun = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    return {
        "base": base, "child": child, "before": before, "partial": partial,
        "rerun": rerun, "first_log": first_log,
    }  # fmt: skip


def test_killed_study_reruns_without_redoing_and_resumes(phase1):
    base, rerun = phase1["base"], phase1["rerun"]
    assert not pid_alive(phase1["child"]), "the training outlived its killed runner"
    assert phase1["partial"], "exp_002 finished before the runner could be killed"
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (base / "master_log.txt").read_text()
    assert "SKIP    exp_001_s1_r4_is0_mb0: finished" in phase1["first_log"]
    assert re.search(r"LOCK +took over the stale lock of pid \d+", log)
    assert "SKIP    exp_001_s1_r4_is0_mb0: finished" in log
    assert "RESUME  exp_002_s2_r4_is0_mb0 from checkpoints/model_0000003.pth" in log
    assert "START   exp_001" not in log
    assert "RESUME  exp_002_s2_r4_is0_mb0" in rerun.stderr  # the log is echoed to the console

    exp1 = base / P1 / "exp_001_s1_r4_is0_mb0" / "final_results.json"
    assert exp1.read_text() == phase1["before"]["final"]
    assert exp1.stat().st_mtime_ns == phase1["before"]["mtime"]
    exp2 = base / P1 / "exp_002_s2_r4_is0_mb0"
    assert "Starting training from iteration 4" in (exp2 / "training.log").read_text()
    iterations = [int(r["iteration"]) for r in read_csv(exp2 / "metrics_per_batch.csv")]
    assert iterations == list(range(8))

    rows = summary(base)
    assert len(rows) == 8 and not (base / "ablate.lock").exists()
    for name in ("exp_001_s1_r4_is0_mb0", "exp_002_s2_r4_is0_mb0"):
        final = json.loads((base / P1 / name / "final_results.json").read_text())
        row = rows[f"1/{name}"]
        assert row["status"] == "finished" and row["seeds"] == "1"
        assert float(row["AP"]) == pytest.approx(final["test"]["AP"], abs=1e-3)
        assert float(row["val_AP"]) == pytest.approx(final["val"]["AP"], abs=1e-3)
    assert int(rows["1/exp_002_s2_r4_is0_mb0"]["params_gaff"]) > 0
    assert float(rows["1/exp_002_s2_r4_is0_mb0"]["train_hours"]) > 0
    assert {
        rows[f"1/{n}"]["status"] for n in ("exp_003_s3_r4_is0_mb0", "exp_008_s1234_r4_is0_mb0")
    } == {"pending"}


def test_analysis_report_of_the_real_phase1(phase1):
    """tools/analyze.py on this real study: the report quotes exp_002's own files."""
    base = phase1["base"]
    analyze = [sys.executable, str(REPO_ROOT / "tools" / "analyze.py"), "--output-base", str(base)]
    result = subprocess.run(analyze, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    run = base / P1 / "exp_002_s2_r4_is0_mb0"
    final = json.loads((run / "final_results.json").read_text())
    info = json.loads((run / "model_info.json").read_text())
    text = (base / "report.md").read_text()
    assert f"| [2] s2 | 1 | {final['test']['AP']:.2f} | {final['test']['AP50']:.2f} |" in text
    assert f"| {count(info['parameters']['gaff_total'])} |" in text
    assert "Configurations finished: 2 of 8 planned" in text
    assert "- exp_003_s3_r4_is0_mb0: pending" in text
    for name in ("phase1_ap", "phase1_cost", "curves_phase1"):
        assert (base / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    assert not (base / "phase2_heatmap.png").exists()


def test_phase2_top1_on_val_with_a_failing_run(phase1, tiny_dataset):
    base = phase1["base"]
    # s4 is best on val, s3 on test: phase 2 must take s4.
    for name, val_ap, test_ap in [
        ("exp_003_s3_r4_is0_mb0", 1.0, 99.0), ("exp_004_s4_r4_is0_mb0", 99.0, 1.0),
        ("exp_005_s23_r4_is0_mb0", 0.0, 0.0), ("exp_006_s34_r4_is0_mb0", 0.0, 0.0),
        ("exp_007_s234_r4_is0_mb0", 0.0, 0.0), ("exp_008_s1234_r4_is0_mb0", 0.0, 0.0),
    ]:  # fmt: skip
        _finished(base, name, val_ap, test_ap)
    # Force exp_009 to fail: its config.yaml cannot be written.
    (base / P2 / "exp_009_s4_r4_is0_mb1" / "config.yaml").mkdir(parents=True)
    argv = ablate_argv(
        base, tiny_dataset, "--phase", "2", "--top-k", "1", "--only", "exp_009",
        "--only", "exp_010", "--launcher", "local",
    )  # fmt: skip
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode == 1, result.stderr[-3000:]

    assert json.loads((base / "phase2_selection.json").read_text())["selection"] == ["s4"]
    log = (base / "master_log.txt").read_text()
    assert re.search(r"#1 s4 +99\.00 +→ phase 2", log)
    assert re.search(r"START +exp_009_s4_r4_is0_mb1 \(local job \d+\)", log)
    failed = json.loads((base / P2 / "exp_009_s4_r4_is0_mb1" / "failed.json").read_text())
    assert failed["returncode"] == 1 and "IsADirectoryError" in failed["log_tail"]
    assert "FAILED  exp_009_s4_r4_is0_mb1: exit code 1" in log

    exp10 = base / P2 / "exp_010_s4_r4_is1_mb0"
    config = json.loads((exp10 / "config.json").read_text())
    assert (config["gaff_stages"], config["inter_shared"], config["merge_bottleneck"]) == (
        [4],
        True,
        False,
    )
    assert config["seed"] == 0 and config["epochs"] == 2 and config["backbone"] == "mit_b0"
    rows = summary(base)
    assert len(rows) == 16
    assert rows["2/exp_010_s4_r4_is1_mb0"]["status"] == "finished"
    assert rows["2/exp_009_s4_r4_is0_mb1"]["status"] == "FAILED"
    assert rows["2/exp_004_s4_r4_is0_mb0"]["folder"] == str(P1 / "exp_004_s4_r4_is0_mb0")
    assert rows["2/exp_011_s4_r4_is1_mb1"]["status"] == "pending"
    jobs = json.loads((base / "submitit" / "jobs.json").read_text())
    assert set(jobs) == {"exp_009_s4_r4_is0_mb1", "exp_010_s4_r4_is1_mb0"}
    assert os.path.isdir(base / "submitit")
