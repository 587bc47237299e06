"""What each SLURM job asks for (the sbatch script submitit writes), and the cap on jobs in
flight, with stand-ins for ``srun`` / ``sbatch`` (no cluster needed)."""

from __future__ import annotations

import os
import stat
import sys

import pytest
from conftest import REPO_ROOT

from projects_gaff.study import SlurmOptions, SubmititLauncher, TrainCommand
from projects_gaff.study.executors import NotSubmitted

SBATCH = (
    '#!/bin/sh\n[ -n "$REFUSE" ] && { echo "$REFUSE" >&2; exit 1; }\n'
    'echo "Submitted batch job 77"\n'
)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"srun": "#!/bin/sh\nexit 0\n", "sbatch": SBATCH}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return tmp_path


def _command(tmp_path) -> TrainCommand:
    return TrainCommand(
        python=sys.executable, script=str(REPO_ROOT / "tools" / "train_net.py"),
        config_file="configs/Base-GAFF-RCNN-FPN.yaml", opts=(), run_dir=str(tmp_path / "run"),
        cwd=str(REPO_ROOT),
    )  # fmt: skip


def _flags(tmp_path, resources: SlurmOptions) -> set[str]:
    launcher = SubmititLauncher("slurm", tmp_path / "submitit", resources)
    launcher.start("exp_001_s1_r4_is0_mb0", _command(tmp_path), None)
    script = (tmp_path / "submitit" / "77_submission.sh").read_text()
    return {line for line in script.splitlines() if line.startswith("#SBATCH")}


def test_account_qos_requeue_and_time_limit_warning(fake_slurm):
    resources = SlurmOptions(partition="gpu", account="proj", qos="high", timeout_min=600)
    flags = _flags(fake_slurm, resources)
    assert {
        "#SBATCH --partition=gpu", "#SBATCH --account=proj", "#SBATCH --qos=high",
        "#SBATCH --requeue", "#SBATCH --signal=USR2@90", "#SBATCH --time=600",
        "#SBATCH --gpus-per-node=1",
    } <= flags  # fmt: skip


def test_cpu_only_jobs_and_short_limits(fake_slurm):
    """SLURM may warn up to 60 s early: the warning is never due before 90 s after the start,
    and a limit too short for that is refused."""
    flags = _flags(fake_slurm, SlurmOptions(gpus_per_run=0, timeout_min=2))
    assert not any("gpus" in flag or "account" in flag or "qos" in flag for flag in flags)
    assert "#SBATCH --signal=USR2@30" in flags and "#SBATCH --time=2" in flags
    assert "#SBATCH --signal=USR2@90" in _flags(fake_slurm, SlurmOptions(timeout_min=3))
    with pytest.raises(ValueError, match=r"1 min is too short.*at least 2 min"):
        SubmititLauncher("slurm", fake_slurm / "submitit", SlurmOptions(timeout_min=1))


def test_max_jobs_caps_the_slots(fake_slurm):
    launcher = SubmititLauncher("slurm", fake_slurm / "submitit", SlurmOptions(max_jobs=3))
    assert len(launcher.slots(29)) == 3 and len(launcher.slots(2)) == 2
    unlimited = SubmititLauncher("slurm", fake_slurm / "submitit", SlurmOptions())
    assert len(unlimited.slots(29)) == 29


def test_a_refused_submission_fails_the_run_not_the_study(fake_slurm, monkeypatch):
    monkeypatch.setenv("REFUSE", "sbatch: error: invalid partition specified: nope")
    launcher = SubmititLauncher("slurm", fake_slurm / "submitit", SlurmOptions(partition="nope"))
    handle = launcher.start("exp_001_s1_r4_is0_mb0", _command(fake_slurm), None)
    assert isinstance(handle, NotSubmitted) and handle.done()
    outcome = handle.outcome()
    assert outcome.returncode is None
    assert "sbatch refused the job" in outcome.error and "invalid partition" in outcome.error
