"""The study runner on a real one-node SLURM cluster (slurmctld + slurmd, tests/slurm_cluster.py).

tools/ablate.py submits real trainings (a few iterations of the quick config), one of them
requeued mid-training; the scheduler behaviours around it (time limit, scancel, a killed
runner, ``--max-jobs``) use a stand-in training that sleeps through steps and checkpoints,
so they cost seconds, not trainings.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CONFIGS, REPO_ROOT
from slurm_cluster import SlurmCluster, missing_reason

from projects_gaff.atomic import read_csv
from projects_gaff.study import Status, run_status

pytestmark = pytest.mark.slow

ABLATE = str(REPO_ROOT / "tools" / "ablate.py")
P1 = Path("phase1_stage_selection")
P2 = Path("phase2_hyperparameter_tuning")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> SlurmCluster:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm(cluster, monkeypatch) -> SlurmCluster:
    """The cluster, with this process's SLURM clients pointed at it; no job outlives a test."""
    for name, value in cluster.env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    yield cluster
    cluster.cancel_all()


def wait_for(condition, timeout_s: float, what: str, cluster: SlurmCluster):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            state = f"{cluster.jobs()}\n{cluster.logs()}"
            raise AssertionError(f"timed out waiting for {what}\n{state}")
        time.sleep(0.5)


def settled(cluster: SlurmCluster, ids) -> dict[str, dict[str, str]]:
    """The cluster's jobs once ``ids`` have left RUNNING / COMPLETING (a job's result is
    written a moment before SLURM sees its last process end)."""
    live, ids = ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"), list(ids)

    def ended() -> dict | None:
        jobs = cluster.jobs()
        return jobs if all(jobs[i]["JobState"] not in live for i in ids) else None

    return wait_for(ended, 30, f"jobs {ids} to end", cluster)


def job_ids(base: Path) -> dict[str, str]:
    jobs = json.loads((base / "submitit" / "jobs.json").read_text())
    return {name: entry["job_id"] for name, entry in jobs.items()}


# ---- tools/ablate.py with real trainings ---------------------------------------------------
def _finished(base: Path, name: str) -> None:
    """A stand-in for a finished phase-1 run: what the engine writes when training ends."""
    target = base / P1 / name
    target.mkdir(parents=True)
    coco = {"AP": 1.0, "AP50": 10.0, "AP75": 1.0, "APs": None, "APm": 1.0, "APl": 2.0}
    final = {"val": coco, "test": coco, "training_hours": 0.01, "completed_at": "2026-01-01"}
    (target / "final_results.json").write_text(json.dumps(final))


def test_ablate_on_slurm_survives_a_requeue(slurm, tiny_dataset, tmp_path):
    """Phase 1 trains exp_002, requeued by ``scontrol requeue`` once it has a checkpoint: it
    resumes, with no lost or repeated rows. Phase 2's exp_009 is submitted only after phase
    1's jobs have ended, and fails for a real reason: recorded FAILED with its log tail, run
    once, not requeued. The other phase-1 runs are finished stand-ins (one real training)."""
    base = tmp_path / "study"
    exp2, exp9 = "exp_002_s2_r4_is0_mb0", "exp_009_s2_r4_is0_mb1"
    for number, stages in [(1, "1"), (3, "3"), (4, "4"), (5, "23"), (6, "34"), (7, "234"),
                           (8, "1234")]:  # fmt: skip
        _finished(base, f"exp_{number:03d}_s{stages}_r4_is0_mb0")
    (base / P2 / exp9 / "config.yaml").mkdir(parents=True)  # the run cannot write its config
    argv = [
        sys.executable, ABLATE, "--launcher", "slurm", "--top-k-from", "s2",
        "--only", "exp_002,exp_009", "--timeout-min", "30", "--cpus-per-run", "1",
        "--gpus-per-run", "0",
        "--config", str(CONFIGS / "quick" / "Base-quick.yaml"), "--output-base", str(base),
        "--epochs", "2", *tiny_dataset,
    ]  # fmt: skip
    console_log = tmp_path / "ablate.log"
    with open(console_log, "w") as console:
        runner = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=slurm.env, stdout=console, stderr=console
        )
    try:
        tag = base / P1 / exp2 / "checkpoints" / "last_checkpoint"
        wait_for(lambda: tag.is_file() or runner.poll() is not None, 900, "a checkpoint", slurm)
        job2 = job_ids(base)[exp2]
        assert slurm.queue().get(job2) == "RUNNING", console_log.read_text()[-3000:]
        slurm.run("scontrol", "requeue", job2)
        assert runner.wait(timeout=900) == 1, console_log.read_text()[-3000:]
    finally:
        if runner.poll() is None:
            runner.kill()

    ids = job_ids(base)
    assert set(ids) == {exp2, exp9}
    jobs = settled(slurm, ids.values())
    job2, job9 = jobs[ids[exp2]], jobs[ids[exp9]]
    # The requeued training resumed from its checkpoint: every iteration exactly once.
    assert (job2["JobState"], job2["Restarts"]) == ("COMPLETED", "1")
    assert job2["JobName"] == exp2 and job2["Partition"] == "debug"
    folder2 = base / P1 / exp2
    assert "Starting training from iteration 4" in (folder2 / "training.log").read_text()
    iterations = [int(r["iteration"]) for r in read_csv(folder2 / "metrics_per_batch.csv")]
    assert iterations == list(range(8))
    epochs = [int(r["epoch"]) for r in read_csv(folder2 / "metrics_per_epoch.csv")]
    assert epochs == sorted(set(epochs)) and run_status(folder2) is Status.FINISHED
    # Phase 2 was submitted after phase 1's job had ended.
    assert job9["SubmitTime"] >= job2["EndTime"]
    # A real failure: recorded with its log tail, run once, not requeued.
    failed = json.loads((base / P2 / exp9 / "failed.json").read_text())
    assert failed["returncode"] == 1 and "IsADirectoryError" in failed["log_tail"]
    assert (job9["JobState"], job9["Restarts"]) == ("COMPLETED", "0")
    # The summary: every row, the trained run's numbers from its own files.
    rows = read_csv(base / "summary_all_experiments.csv")
    assert len(rows) == 8 + 8
    status = {(r["phase"], r["name"]): r["status"] for r in rows}
    assert status[("1", exp2)] == status[("2", exp2)] == "finished"
    assert status[("2", exp9)] == "FAILED"
    assert sum(s == "pending" for s in status.values()) == 6  # phase 2's other combinations
    final2 = json.loads((folder2 / "final_results.json").read_text())
    row2 = next(r for r in rows if r["name"] == exp2)
    assert float(row2["AP"]) == pytest.approx(final2["test"]["AP"], abs=1e-3)
    log = (base / "master_log.txt").read_text()
    assert re.search(rf"START +{exp2} \(slurm job {ids[exp2]}\)", log)
    assert f"FAILED  {exp9}: exit code 1" in log


# ---- the scheduler's behaviours, with a stand-in training -----------------------------------
STAND_IN = r"""
import json, os, sys, time
args = sys.argv[1:]
spec = json.load(open(args[args.index("--config-file") + 1]))
out = args[args.index("OUTPUT_DIR") + 1]
name = os.path.basename(out)
run = {**spec["default"], **spec.get(name, {})}
checkpoint = os.path.join(out, "checkpoints", "last_checkpoint")
step = int(open(checkpoint).read()) if "--resume" in args else 0
restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
with open(spec["calls"], "a") as f:
    f.write(json.dumps({"name": name, "step": step, "job": os.environ.get("SLURM_JOB_ID"),
                        "restarts": restarts, "start": time.time()}) + "\n")
# "until_requeued": a training longer than its time limit (it finishes only once requeued)
while step < run["steps"] or (run.get("until_requeued") and restarts < run["until_requeued"]):
    time.sleep(run.get("step_s", 1.0))
    step += 1
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    with open(checkpoint + ".tmp", "w") as f:
        f.write(str(step))
    os.replace(checkpoint + ".tmp", checkpoint)
coco = {"AP": 1.0, "AP50": 2.0, "AP75": 1.0, "APs": 1.0, "APm": 1.0, "APl": 1.0}
json.dump({"val": coco, "test": coco, "steps": step, "completed_at": "now"},
          open(os.path.join(out, "final_results.json"), "w"))
"""

RUNNER = r"""
import json, sys
from pathlib import Path
from projects_gaff.study import SlurmOptions, Study, StudyOptions
o = json.loads(sys.argv[1])
resources = SlurmOptions(gpus_per_run=0, cpus_per_run=1, **o.pop("resources"))
options = StudyOptions(output_base=Path(o["base"]), config_file=Path(o["spec"]),
                       train_script=Path(o["script"]), phase="1", launcher="slurm",
                       only=tuple(o["only"]), resources=resources)
sys.exit(Study(options).run())
"""


class StandIn:
    """Runs the study runner (in its own process) on phase-1 experiments trained by
    :data:`STAND_IN`, and reads what the stand-in trainings recorded."""

    def __init__(self, tmp_path: Path, cluster: SlurmCluster, runs: dict, **resources):
        self.cluster = cluster
        self.base = tmp_path / "study"
        self.calls_file = tmp_path / "calls.jsonl"
        (tmp_path / "train.py").write_text(STAND_IN)
        spec = {"calls": str(self.calls_file), "default": {"steps": 2}}
        spec.update({name: run for name, run in runs.items()})
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        self.options = {
            "base": str(self.base), "spec": str(tmp_path / "spec.json"),
            "script": str(tmp_path / "train.py"), "only": [n[:7] for n in runs],
            "resources": resources,
        }  # fmt: skip
        self.log = tmp_path / "runner.log"

    def start(self) -> subprocess.Popen:
        argv = [sys.executable, "-c", RUNNER, json.dumps(self.options)]
        with open(self.log, "a") as log:
            return subprocess.Popen(
                argv, cwd=REPO_ROOT, env=self.cluster.env, stdout=log, stderr=log
            )

    def run(self, timeout_s: float = 300) -> int:
        runner = self.start()
        try:
            return runner.wait(timeout=timeout_s)
        finally:
            if runner.poll() is None:
                runner.kill()

    def calls(self) -> list[dict]:
        text = self.calls_file.read_text() if self.calls_file.is_file() else ""
        return [json.loads(line) for line in text.splitlines()]

    def master_log(self) -> str:
        return (self.base / "master_log.txt").read_text()

    def folder(self, name: str) -> Path:
        return self.base / P1 / name

    def evidence(self) -> str:
        """What to read when an assertion fails: the calls, SLURM's view of the jobs, the
        master log, and the tails of the runner's, each job's and each run's logs."""
        parts = [f"calls: {self.calls()}", f"jobs: {self.cluster.jobs()}"]
        logs = [self.log, self.base / "master_log.txt", *sorted(self.base.glob("submitit/*_log.*")),
                *sorted(self.base.glob(f"{P1}/*/console.log"))]  # fmt: skip
        for path in filter(Path.is_file, logs):
            tail = path.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts)


EXP1, EXP2, EXP3, EXP4 = (
    "exp_001_s1_r4_is0_mb0", "exp_002_s2_r4_is0_mb0",
    "exp_003_s3_r4_is0_mb0", "exp_004_s4_r4_is0_mb0",
)  # fmt: skip


def test_time_limit_requeues_a_bounded_number_of_times(slurm, tmp_path):
    """With a 2-minute limit SLURM warns each job (SIGUSR2) 30-90 s after its start:
    exp_001 requeues itself and finishes from its checkpoint; exp_002, which never fits,
    is requeued --max-requeues (1) times, then recorded FAILED."""
    runs = {EXP1: {"steps": 3, "until_requeued": 1}, EXP2: {"steps": 10**6}}
    study = StandIn(tmp_path, slurm, runs, timeout_min=2, max_requeues=1)
    assert study.run(timeout_s=600) == 1, study.evidence()
    ids = job_ids(study.base)
    jobs = settled(slurm, ids.values())
    evidence = study.evidence()
    first = [c for c in study.calls() if c["name"] == EXP1]
    assert [c["restarts"] for c in first] == [0, 1] and first[1]["step"] > 0, evidence
    assert (jobs[ids[EXP1]]["JobState"], jobs[ids[EXP1]]["Restarts"]) == ("COMPLETED", "1"), (
        evidence
    )
    assert run_status(study.folder(EXP1)) is Status.FINISHED, evidence
    second = [c for c in study.calls() if c["name"] == EXP2]
    assert [c["restarts"] for c in second] == [0, 1] and second[1]["step"] > 0, evidence
    failed = json.loads((study.folder(EXP2) / "failed.json").read_text())
    # submitit's last handler writes this, unless SLURM's kill at the limit comes first
    assert re.search(r"timed-out too many times|ended TIMEOUT", failed["reason"]), evidence
    assert {c["job"] for c in study.calls()} == {ids[EXP1], ids[EXP2]}  # no resubmission


def test_cancelled_job_then_rerun_trains_only_what_is_unfinished(slurm, tmp_path):
    runs = {EXP1: {"steps": 60}, EXP2: {"steps": 4}}
    study = StandIn(tmp_path, slurm, runs)
    runner = study.start()
    try:
        checkpoint = study.folder(EXP1) / "checkpoints" / "last_checkpoint"
        wait_for(checkpoint.is_file, 120, "exp_001's first checkpoint", slurm)
        slurm.run("scancel", job_ids(study.base)[EXP1])
        assert runner.wait(timeout=120) == 1
    finally:
        if runner.poll() is None:
            runner.kill()
    failed = json.loads((study.folder(EXP1) / "failed.json").read_text())
    assert re.search(r"SLURM job \d+ ended CANCELLED without a result", failed["reason"])
    assert run_status(study.folder(EXP2)) is Status.FINISHED
    before = len(study.calls())

    spec = json.loads((tmp_path / "spec.json").read_text())
    spec[EXP1]["steps"] = int(checkpoint.read_text()) + 2
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert study.run() == 0, study.log.read_text()[-3000:]
    again = study.calls()[before:]
    assert [(c["name"], c["step"] > 0) for c in again] == [(EXP1, True)]
    assert f"SKIP    {EXP2}: finished" in study.master_log()


def test_rerun_after_the_runner_was_killed_reattaches(slurm, tmp_path):
    runs = {EXP1: {"steps": 8}, EXP2: {"steps": 8}, EXP3: {"steps": 1}}
    study = StandIn(tmp_path, slurm, runs, max_jobs=2)
    runner = study.start()
    try:
        wait_for(lambda: len(study.calls()) == 2, 120, "two running jobs", slurm)
        submitted = job_ids(study.base)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    finally:
        if runner.poll() is None:
            runner.kill()
    assert set(submitted) == {EXP1, EXP2}
    assert {slurm.queue().get(submitted[n]) for n in (EXP1, EXP2)} == {"RUNNING"}

    assert study.run() == 0, study.log.read_text()[-3000:]
    log = study.master_log()
    for name in (EXP1, EXP2):
        job = submitted[name]
        assert re.search(rf"ATTACH +{name}: slurm job {job}, started by an earlier runner", log)
    assert [c["name"] for c in study.calls()].count(EXP1) == 1
    assert sorted(c["name"] for c in study.calls()) == [EXP1, EXP2, EXP3]
    ids = job_ids(study.base)
    assert {ids[EXP1], ids[EXP2]} == {submitted[EXP1], submitted[EXP2]}
    jobs = settled(slurm, ids.values())
    assert all(jobs[ids[n]]["JobState"] == "COMPLETED" for n in (EXP1, EXP2, EXP3))


def test_max_jobs_caps_the_queue(slurm, tmp_path):
    runs = {name: {"steps": 2} for name in (EXP1, EXP2, EXP3, EXP4)}
    study = StandIn(tmp_path, slurm, runs, max_jobs=1)
    seen, stop = [], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.append(len([s for s in slurm.queue().values() if s in ("PENDING", "RUNNING")]))
            time.sleep(0.3)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        assert study.run() == 0, study.log.read_text()[-3000:]
    finally:
        stop.set()
        sampler.join()
    assert max(seen) == 1
    calls = sorted(study.calls(), key=lambda c: c["start"])
    assert sorted(c["name"] for c in calls) == [EXP1, EXP2, EXP3, EXP4]
    ends = [(study.folder(c["name"]) / "final_results.json").stat().st_mtime for c in calls]
    assert all(end <= later["start"] for end, later in zip(ends, calls[1:], strict=False))
