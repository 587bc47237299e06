"""The runner with a stand-in for tools/train_net.py: skipping, resuming, failures, the
summary, selection on validation AP, seeds, GPU slots, the lock and the SLURM submission.

The stand-in takes train_net's command line, reads its "config file" (a JSON of scores per
experiment code) and writes final_results.json / model_info.json in milliseconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import pickle
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from projects_gaff.atomic import read_csv
from projects_gaff.study import (
    COMPARISON_COLUMNS,
    SUMMARY_COLUMNS,
    LockHeldError,
    SlurmOptions,
    Status,
    Study,
    StudyError,
    StudyLock,
    StudyOptions,
    SubmititLauncher,
    TrainCommand,
    phase1_plan,
    run_status,
)
from projects_gaff.study.ranking import SeedStats, pooled_std, rank, top_k, within_noise
from projects_gaff.study.selection import select

FAKE_TRAIN = r"""
import json, os, sys, time
args = sys.argv[1:]
scores = json.load(open(args[1]))
rest, flags = args[2:], []
while rest[0].startswith("--"):
    flags.append(rest.pop(0))
    if flags[-1] == "--num-gpus":
        rest.pop(0)
opts = dict(zip(rest[::2], rest[1::2]))
code = "s{}_r{}_is{}_mb{}".format(
    "".join(str(s) for s in json.loads(opts["MODEL.FUSION.STAGES"])),
    opts.get("MODEL.GAFF.SE_REDUCTION", "4"),
    int(opts.get("MODEL.GAFF.INTER_MODE", "separate") == "shared"),
    int(opts.get("MODEL.GAFF.MERGE_BOTTLENECK", "False") == "True"))
seed, out = int(opts["SEED"]), opts["OUTPUT_DIR"]
spec = {**scores["default"], **scores.get(code, {}), **scores.get(os.path.basename(out), {})}
call = {"code": code, "seed": seed, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "resume": "--resume" in flags, "start": time.time(), "opts": opts}
if spec.get("fail"):
    print("Traceback (most recent call last):\nerror: forced failure of " + code, file=sys.stderr)
    sys.exit(2)
time.sleep(spec.get("sleep", 0))
offset = spec.get("noise", [0.0] * 8)[seed]
coco = lambda ap: {"AP": ap, "AP50": ap + 10, "AP75": ap - 5, "APs": 1.0, "APm": 2.0, "APl": 3.0}
val, test = coco(spec["val"] + offset), coco(spec["test"] + offset)
if "mr" in spec:  # a miss-rate evaluation too (TEST.EVALUATORS ["coco", "miss_rate"])
    val["MR_reasonable_all"], test["MR_reasonable_all"] = spec["mr"], spec["mr"] + 1
json.dump({"val": val, "test": test,
           "best_val_AP": spec["val"] + offset, "training_hours": 0.5, "inference_fps": 20.0,
           "peak_memory_mb": 1000.0, "completed_at": "now"}, open(out + "/final_results.json", "w"))
json.dump({"parameters": {"total": 1000 + len(code), "gaff_total": len(code)}, "gflops": 1.5},
          open(out + "/model_info.json", "w"))
call["end"] = time.time()
with open(os.environ["FAKE_CALLS"], "a") as f:
    f.write(json.dumps(call) + "\n")
"""
# Phase 1 on val AP: s3 > s34 > s4 > ...; on test AP s1 would win (the earlier bug's choice).
SCORES = {
    "default": {"val": 30.0, "test": 30.0},
    "s3_r4_is0_mb0": {"val": 50.0, "test": 40.0},
    "s34_r4_is0_mb0": {"val": 45.0, "test": 41.0},
    "s4_r4_is0_mb0": {"val": 40.0, "test": 42.0},
    "s1_r4_is0_mb0": {"val": 20.0, "test": 60.0},
}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    script = tmp_path / "fake_train_net.py"
    script.write_text(FAKE_TRAIN)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CALLS", str(calls))

    def make(scores=SCORES, **kw) -> tuple[Study, Path]:
        config = tmp_path / "scores.json"
        config.write_text(json.dumps(scores))
        options = StudyOptions(
            output_base=tmp_path / "study", config_file=config, train_script=script, **kw
        )
        return Study(options), tmp_path / "study"

    def read_calls() -> list[dict]:
        return (
            [json.loads(line) for line in calls.read_text().splitlines()] if calls.is_file() else []
        )

    make.calls = read_calls
    return make


def summary(base: Path) -> dict[str, dict]:
    rows = read_csv(base / "summary_all_experiments.csv")
    return {f"{r['phase']}/{r['name']}": r for r in rows}


@pytest.mark.slow
def test_full_study_selects_on_val_and_reuses_defaults(fake):
    study, base = fake(top_k=2)
    assert study.run() == 0
    calls = fake.calls()
    assert len(calls) == 8 + 14
    rows = summary(base)
    assert len(rows) == 8 + 16
    assert list(read_csv(base / "summary_all_experiments.csv")[0]) == SUMMARY_COLUMNS
    # Top-2 on val AP is s3, s34 (on test it would have been s1, s4).
    phase2 = [r for r in rows.values() if r["phase"] == "2"]
    assert {r["stages"] for r in phase2} == {"[3]", "[3, 4]"}
    default = rows["2/exp_003_s3_r4_is0_mb0"]
    assert default["folder"] == "phase1_stage_selection/exp_003_s3_r4_is0_mb0"
    assert default["val_AP"] == "50.0" and default["status"] == "finished"
    assert rows["2/exp_009_s3_r4_is0_mb1"]["folder"] == (
        "phase2_hyperparameter_tuning/exp_009_s3_r4_is0_mb1"
    )
    assert rows["2/exp_016_s34_r4_is0_mb1"]["stages"] == "[3, 4]"
    # The guide's columns are the test split's; val and cost columns come from the files.
    s1 = rows["1/exp_001_s1_r4_is0_mb0"]
    assert (s1["AP"], s1["AP50"], s1["val_AP"], s1["rank"]) == ("60.0", "70.0", "20.0", "8")
    assert (s1["params_total"], s1["params_gaff"], s1["gflops"]) == ("1013", "13", "1.5")
    assert (s1["train_hours"], s1["inference_fps"], s1["seeds"]) == ("0.5", "20.0", "1")
    assert json.loads((base / "phase2_selection.json").read_text())["selection"] == ["s3", "s34"]
    # Phase 2 starts only after every phase-1 run has ended.
    log = (base / "master_log.txt").read_text().splitlines()
    select = next(i for i, line in enumerate(log) if " RANK " in line)
    assert sum(" END " in line for line in log[:select]) == 8
    assert not any("exp_009" in line for line in log[:select])
    assert "one seed per configuration" in (base / "master_log.txt").read_text()
    # Every run got its own configuration and seed, and the study's common options.
    assert {c["opts"]["SEED"] for c in calls} == {"0"}
    assert all(c["opts"]["OUTPUT_DIR"].startswith(str(base)) for c in calls)

    # Rerun with top-3: nothing finished is redone; s4 (third on val) is appended as
    # exp_023 … exp_029, so the existing phase-2 folders keep their names.
    study, _ = fake(top_k=3)
    assert study.run() == 0
    new = fake.calls()[len(calls) :]
    assert {c["code"][:3] for c in new} == {"s4_"} and len(new) == 7
    assert "2/exp_023_s4_r4_is0_mb1" in summary(base)
    assert len(summary(base)) == 32


@pytest.mark.slow
def test_fusion_study_runs_each_method_with_its_options(fake):
    """--study fusion: one run per method at the same stages, the method's keys on top of the
    same base config and options, the §8.2 table in its own summary; a rerun skips."""
    scores = {
        "default": {"val": 30.0, "test": 30.0},
        "exp_104_cssa_t03_s3": {"val": 35.0, "test": 33.0},
    }
    study, base = fake(scores, study="fusion", fusion_stages=(3,), opts=("SOLVER.EPOCHS", "2"))
    assert study.run() == 0
    calls = {Path(c["opts"]["OUTPUT_DIR"]).name: c["opts"] for c in fake.calls()}
    assert len(calls) == 16 and all(c["SOLVER.EPOCHS"] == "2" for c in calls.values())
    cssa = calls["exp_104_cssa_t03_s3"]
    assert (cssa["MODEL.FUSION.STAGES"], cssa["MODEL.FUSION.TYPE"]) == ("[3]", "cssa")
    assert cssa["MODEL.FUSION.CSSA.THRESHOLD"] == "0.3"
    assert calls["exp_109_gaff_tied_s3"]["MODEL.GAFF.INTER_MODE"] == "tied"
    assert calls["exp_101_none"]["MODEL.FUSION.STAGES"] == "[]"
    assert (base / "fusion_comparison" / "exp_114_gaff_guided_s3").is_dir()
    rows = read_csv(base / "summary_fusion_comparison.csv")
    assert list(rows[0]) == COMPARISON_COLUMNS
    assert not (base / "summary_all_experiments.csv").exists()
    assert [r["method"] for r in rows][:4] == ["none", "add", "concat", "cssa_t03"]
    row = rows[3]
    assert (row["name"], row["stages"], row["AP"], row["val_AP"], row["rank"]) == (
        "exp_104_cssa_t03_s3", "[3]", "33.0", "35.0", "1"
    )  # fmt: skip
    assert (row["params_fusion"], row["gflops"], row["train_hours"], row["inference_fps"]) == (
        "13", "1.5", "0.5", "20.0"
    )  # fmt: skip
    assert row["folder"] == "fusion_comparison/exp_104_cssa_t03_s3"
    again, _ = fake(scores, study="fusion", fusion_stages=(3,), opts=("SOLVER.EPOCHS", "2"))
    assert again.run() == 0 and len(fake.calls()) == 16
    assert (base / "master_log.txt").read_text().count("SKIP") == 16


@pytest.mark.slow
def test_select_on_test_warns(fake):
    study, base = fake(top_k=1, select_on="test", phase="all", only=("exp_001", "exp_002",
                       "exp_003", "exp_004", "exp_005", "exp_006", "exp_007", "exp_008",
                       "exp_010"))  # fmt: skip
    assert study.run() == 0
    log = (base / "master_log.txt").read_text()
    assert "chosen on the TEST split" in log
    assert [c["code"] for c in fake.calls()][-1] == "s1_r4_is1_mb0"  # exp_010 of s1


def test_phase2_refuses_an_incomplete_phase1(fake):
    study, base = fake(phase="1", only=("exp_001", "exp_002"))
    assert study.run() == 0
    study, _ = fake(phase="2", top_k=1)
    with pytest.raises(StudyError, match=r"not finished.*exp_003_s3_r4_is0_mb0 \(pending\)"):
        study.run()
    study, _ = fake(phase="2", top_k_from=("s2",), only=("exp_009",))
    assert study.run() == 0
    assert fake.calls()[-1]["code"] == "s2_r4_is0_mb1"
    assert summary(base)["2/exp_002_s2_r4_is0_mb0"]["status"] == "finished"  # reused


@pytest.mark.slow
def test_failure_is_recorded_and_the_study_goes_on(fake):
    scores = {**SCORES, "s2_r4_is0_mb0": {"fail": True}}
    study, base = fake(scores, phase="1")
    assert study.run() == 1
    assert len(fake.calls()) == 7
    folder = base / "phase1_stage_selection" / "exp_002_s2_r4_is0_mb0"
    record = json.loads((folder / "failed.json").read_text())
    assert record["reason"] == "config or data error" and record["returncode"] == 2
    assert "error: forced failure of s2_r4_is0_mb0" in record["log_tail"]
    log = (base / "master_log.txt").read_text()
    assert "FAILED  exp_002_s2_r4_is0_mb0: config or data error" in log
    rows = summary(base)
    assert rows["1/exp_002_s2_r4_is0_mb0"]["status"] == "FAILED"
    assert sum(r["status"] == "finished" for r in rows.values()) == 7

    # Rerun: the failed run is retried, nothing finished is redone.
    study, _ = fake(phase="1")
    assert study.run() == 0
    assert [c["code"] for c in fake.calls()[7:]] == ["s2_r4_is0_mb0"]
    assert not (folder / "failed.json").exists()
    assert log.count("SKIP") == 0 and (base / "master_log.txt").read_text().count("SKIP") == 7


def test_partial_run_resumes_and_broken_results_are_not_finished(fake):
    study, base = fake(phase="1", only=("exp_003", "exp_004"))
    partial = base / "phase1_stage_selection" / "exp_003_s3_r4_is0_mb0"
    (partial / "checkpoints").mkdir(parents=True)
    (partial / "checkpoints" / "last_checkpoint").write_text("model_0000003.pth")
    torn = base / "phase1_stage_selection" / "exp_004_s4_r4_is0_mb0"
    torn.mkdir(parents=True)
    (torn / "final_results.json").write_text('{"test": {"AP": 1.0}, "completed_at": "x"}')
    assert study.run() == 0
    calls = {c["code"]: c for c in fake.calls()}
    assert calls["s3_r4_is0_mb0"]["resume"] and not calls["s4_r4_is0_mb0"]["resume"]
    log = (base / "master_log.txt").read_text()
    assert "RESUME  exp_003_s3_r4_is0_mb0 from checkpoints/model_0000003.pth" in log
    assert (
        "INTERRUPTED exp_003_s3_r4_is0_mb0: an earlier attempt stopped after "
        "checkpoints/model_0000003.pth; resumed"
    ) in log  # the killed attempt is in the master log (issue 17)
    assert "START   exp_004_s4_r4_is0_mb0" in log
    assert "INTERRUPTED exp_004" not in log


@pytest.mark.slow
def test_select_metric_miss_rate_ranks_phase1_and_fills_the_summary(fake):
    """TEST.SELECT_METRIC MR_…: phase 2 takes the lowest val miss rate (s4 here, while s3
    has the best val AP), and the summary gains the miss-rate columns."""
    mr = {f"{s}_r4_is0_mb0": {"mr": 20.0 + i} for i, s in enumerate(
        ("s4", "s34", "s3", "s1", "s2", "s23", "s234", "s1234"))}  # fmt: skip
    scores = {key: {**SCORES.get(key, {}), **value} for key, value in mr.items()}
    scores["default"] = {**SCORES["default"], "mr": 40.0}
    opts = ("TEST.SELECT_METRIC", "MR_reasonable_all")
    study, base = fake(scores, top_k=1, opts=opts)
    assert study.run() == 0
    assert json.loads((base / "phase2_selection.json").read_text())["selection"] == ["s4"]
    log = (base / "master_log.txt").read_text()
    assert "phase 1 by val MR_reasonable_all" in log and re.search(r"#1 s4 +20\.00", log)
    assert "val MR_reasonable_all 20.00, test MR_reasonable_all 21.00" in log
    header = (base / "summary_all_experiments.csv").read_text().splitlines()[0].split(",")
    at = header.index("val_AP50")
    assert header[at + 1 : at + 3] == ["MR_reasonable_all", "val_MR_reasonable_all"]
    assert "val_MR_reasonable_all_gap_to_best" in header and "val_AP_gap_to_best" not in header
    rows = summary(base)
    s34 = rows["1/exp_006_s34_r4_is0_mb0"]
    assert (s34["rank"], s34["val_MR_reasonable_all"], s34["MR_reasonable_all"]) == (
        "2", "21.0", "22.0",
    )  # fmt: skip
    assert s34["val_MR_reasonable_all_gap_to_best"] == "1.0"


def test_a_study_without_miss_rates_keeps_its_summary_columns(fake):
    study, base = fake(phase="1", only=("exp_003",))
    assert study.run() == 0
    header = (base / "summary_all_experiments.csv").read_text().splitlines()[0].split(",")
    assert header == SUMMARY_COLUMNS


@pytest.mark.parametrize(
    "text, finished",
    [
        ('{"test": {"AP": 1, "AP50": 2, "AP75": 1, "APs": null, "APm": 3, "APl": null},'
         ' "completed_at": "t"}', True),
        ('{"test": {"AP": 1, "AP50": 2, "AP75": 1, "APs": 0, "APm": 3, "APl": 0}}', False),
        ('{"val": {"AP": 1}, "completed_at": "t"}', False),
        ('{"test": {"AP": 1, "AP50": 2', False),
    ],
)  # fmt: skip
def test_finished_means_complete_final_results(tmp_path, text, finished):
    (tmp_path / "final_results.json").write_text(text)
    assert (run_status(tmp_path) is Status.FINISHED) is finished


@pytest.mark.slow
def test_seeds_give_mean_std_and_noise_flags(fake):
    scores = {
        "default": {"val": 30.0, "test": 30.0, "noise": [0.0, 2.0, 4.0]},
        "s3_r4_is0_mb0": {"val": 31.0, "test": 30.0},  # 1 AP above: inside seed noise
        "s4_r4_is0_mb0": {"val": 50.0, "test": 30.0},  # far above everything
    }
    study, base = fake(scores, phase="1", seeds=3)
    assert study.run() == 0
    assert len(fake.calls()) == 24
    assert (base / "phase1_stage_selection" / "exp_003_s3_r4_is0_mb0_seed2").is_dir()
    rows = summary(base)
    s3, s4 = rows["1/exp_003_s3_r4_is0_mb0"], rows["1/exp_004_s4_r4_is0_mb0"]
    assert (s4["val_AP"], s4["val_AP_std"], s4["seeds"], s4["rank"]) == ("52.0", "2.0", "3", "1")
    assert s3["rank"] == "2" and s3["within_noise_of_best"] == "False"
    s1 = rows["1/exp_001_s1_r4_is0_mb0"]
    assert s1["val_AP"] == "32.0"
    # Ranking phase 1 for phase 2: the cut between #2 (s3) and #3 is inside the noise.
    selection = select(base, dataclasses.replace(study.o, phase="2", top_k=2))
    assert selection.requested == ["s4", "s3"]
    notes = dict(selection.notes)
    assert "pooled seed std 2.00" in notes["RANK"] and "within seed noise" not in notes["RANK"]
    assert "#2 s3 (33.00) and #3 s1 (32.00) are closer than the seed noise" in notes["WARN"]


def test_ranking_noise_rules():
    a, b = SeedStats((50.0, 52.0, 54.0)), SeedStats((49.0, 51.0, 53.0))
    assert a.mean == 52.0 and a.std == 2.0
    assert pooled_std([a, b, SeedStats((10.0,))]) == 2.0
    assert within_noise(a, b, 2.0) is True  # 1 AP apart, 2 SE = 3.27
    assert within_noise(a, SeedStats((40.0, 42.0, 44.0)), 2.0) is False
    assert within_noise(SeedStats((1.0,)), SeedStats((2.0,)), None) is None
    ranking = rank({"x": b, "y": a}, 2.0)
    assert [r.key for r in ranking] == ["y", "x"] and ranking[1].within_noise_of_best
    chosen, warning = top_k(ranking, 1, 2.0)
    assert chosen == ["y"] and "closer than the seed noise" in warning


@pytest.mark.slow
def test_gpus_run_one_experiment_per_gpu_at_a_time(fake):
    scores = {"default": {"val": 30.0, "test": 30.0, "sleep": 0.4}}
    study, _ = fake(scores, phase="1", gpus=("0", "1"))
    assert study.run() == 0
    calls = fake.calls()
    assert len(calls) == 8 and {c["gpu"] for c in calls} == {"0", "1"}
    for gpu in ("0", "1"):
        spans = sorted((c["start"], c["end"]) for c in calls if c["gpu"] == gpu)
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    starts = sorted(c["start"] for c in calls)
    overlaps = max(sum(c["start"] <= t < c["end"] for c in calls) for t in starts)
    assert overlaps == 2


def test_settings_of_a_study_cannot_change_silently(fake):
    study, _ = fake(phase="1", only=("exp_001",), opts=("SOLVER.EPOCHS", "2"))
    assert study.run() == 0
    study, _ = fake(phase="1", only=("exp_002",), opts=("SOLVER.EPOCHS", "3"))
    with pytest.raises(StudyError, match=r"other settings.*SOLVER\.EPOCHS"):
        study.run()


# ---- the lock -------------------------------------------------------------------------
def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lock_names_its_holder_and_is_released(tmp_path):
    path = tmp_path / "ablate.lock"
    with StudyLock(path):
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(LockHeldError, match=f"pid {os.getpid()} on {socket.gethostname()}"):
            StudyLock(path).acquire()
    assert not path.exists()


def test_stale_lock_is_taken_over_only_on_this_host(tmp_path):
    path = tmp_path / "ablate.lock"
    dead = _dead_pid()
    path.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started_at": "t"}))
    messages = []
    with StudyLock(path, on_takeover=messages.append):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert len(messages) == 1 and f"stale lock of pid {dead}" in messages[0]
    path.write_text(json.dumps({"pid": dead, "host": "other-node", "started_at": "t"}))
    with pytest.raises(LockHeldError, match=r"other-node.*delete the file"):
        StudyLock(path).acquire()


def test_a_second_runner_is_refused(fake):
    study, base = fake(phase="1")
    base.mkdir(parents=True)
    with StudyLock(base / "ablate.lock"), pytest.raises(StudyError, match="runner holds"):
        study.run()
    assert fake.calls() == []


# ---- SLURM, up to the generated submission ----------------------------------------------
FAKE_SLURM = {
    "srun": "#!/bin/sh\nexit 0\n",
    "sbatch": (
        '#!/bin/sh\nn=$(( $(cat "$FAKE_SLURM/count" 2>/dev/null || echo 4241) + 1 ))\n'
        'echo $n > "$FAKE_SLURM/count"\necho "$1" >> "$FAKE_SLURM/sbatch_calls"\n'
        'echo "Submitted batch job $n"\n'
    ),
    "sacct": (
        '#!/bin/sh\necho "JobID|State|NodeList"\n'
        'while [ $# -gt 0 ]; do [ "$1" = "-j" ] && echo "$2|RUNNING|node1"; shift; done\n'
    ),
}


def test_slurm_submission_and_reattach(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in FAKE_SLURM.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(tmp_path))
    resources = SlurmOptions(
        partition="gpu", timeout_min=600, gpus_per_run=2, cpus_per_run=12, mem_gb=64
    )
    launcher = SubmititLauncher("slurm", tmp_path / "submitit", resources)
    run = phase1_plan()[2].runs(1)[0]
    command = TrainCommand(
        python=sys.executable, script=str(REPO_ROOT / "tools" / "train_net.py"),
        config_file="configs/Base-GAFF-RCNN-FPN.yaml",
        opts=("SOLVER.EPOCHS", "25", *run.experiment.config.opts(), "SEED", "0"),
        run_dir=str(tmp_path / run.folder), cwd=str(REPO_ROOT), num_gpus=2,
    )  # fmt: skip
    handle = launcher.start(run.name, command, None)
    assert handle.description == "slurm job 4242" and not handle.done()

    sbatch = (tmp_path / "submitit" / "4242_submission.sh").read_text()
    flags = {line for line in sbatch.splitlines() if line.startswith("#SBATCH")}
    assert {
        "#SBATCH --partition=gpu", "#SBATCH --time=600", "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=12", "#SBATCH --mem=64GB", "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --job-name={run.name}", "#SBATCH --nodes=1",
    } <= flags  # fmt: skip
    assert "submitit.core._submit" in sbatch
    with open(tmp_path / "submitit" / "4242_submitted.pkl", "rb") as f:
        submitted = pickle.load(f)
    assert submitted.function == command
    argv = submitted.function.argv()
    assert argv[1:6] == [command.script, "--config-file", command.config_file, "--num-gpus", "2"]
    assert argv[-2:] == ["OUTPUT_DIR", str(tmp_path / run.folder)]
    assert "MODEL.FUSION.STAGES" in argv and "[3]" in argv

    # A new runner finds the job still queued and waits for it instead of resubmitting.
    again = SubmititLauncher("slurm", tmp_path / "submitit", resources)
    found = again.reattach(run.name)
    assert found is not None and found[0].description == "slurm job 4242"
    assert again.reattach("exp_004_s4_r4_is0_mb0") is None
    assert (tmp_path / "sbatch_calls").read_text().count("\n") == 1


def test_slurm_launcher_off_a_cluster_is_a_clear_error(fake, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    study, _ = fake(phase="1", launcher="slurm")
    with pytest.raises(StudyError, match='--launcher slurm: Could not detect "srun"'):
        study.run()
