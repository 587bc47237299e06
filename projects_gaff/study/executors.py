"""Where trainings run: child processes here (one at a time, or one per GPU), or submitit
jobs (SLURM through ``AutoExecutor``, this machine through ``LocalExecutor``).

Every training is its own process running ``tools/train_net.py``, so a crash or an OOM
kill of one never takes the study down. All launchers share one scheduling loop
(:func:`execute`): a launcher offers slots (GPUs, or as many as the cluster queues), starts
a :class:`TrainCommand` in a slot and returns a handle that the loop polls.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import submitit

from ..atomic import atomic_write_json
from .lock import pid_alive
from .status import CONSOLE_LOG, clear_failure, has_checkpoint

try:  # resolved here, not in the forked child (no dynamic loading between fork and exec)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def _die_with_parent() -> None:
    """Child side of fork: get SIGTERM when the runner dies, so a killed runner never
    leaves an orphan training that a rerun would race with."""
    _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class TrainCommand(submitit.helpers.Checkpointable):
    """One ``tools/train_net.py`` invocation. ``--resume`` is decided when it starts, so a
    requeued SLURM job or a rerun continues from the run's last checkpoint."""

    python: str
    script: str
    config_file: str
    opts: tuple[str, ...]
    run_dir: str
    cwd: str
    num_gpus: int = 1

    def argv(self) -> list[str]:
        resume = ["--resume"] if has_checkpoint(Path(self.run_dir)) else []
        gpus = ["--num-gpus", str(self.num_gpus)] if self.num_gpus > 1 else []
        return [
            self.python, self.script, "--config-file", self.config_file, *resume, *gpus,
            *self.opts, "OUTPUT_DIR", self.run_dir,
        ]  # fmt: skip

    def popen(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start it with stdout and stderr appended to ``console.log`` in the run folder."""
        run_dir = Path(self.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        clear_failure(run_dir)
        argv = self.argv()
        with open(run_dir / CONSOLE_LOG, "a", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            return subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if _PRCTL is not None else None,
            )

    def __call__(self) -> int:
        """Inside a submitit job: train, return train_net's exit code."""
        return self.popen().wait()


@dataclass(frozen=True)
class Outcome:
    """How a training ended: its exit code, or why there is none (a lost job)."""

    returncode: int | None
    error: str | None = None


class Handle(Protocol):
    description: str

    def done(self) -> bool: ...

    def outcome(self) -> Outcome: ...

    def stop(self) -> None: ...


class Launcher(Protocol):
    poll_s: float

    def slots(self, count: int) -> list[str | None]: ...

    def start(self, name: str, command: TrainCommand, slot: str | None) -> Handle: ...

    def reattach(self, name: str) -> tuple[Handle, str | None] | None: ...


# ---- child processes ----------------------------------------------------------------------
class ProcessHandle:
    def __init__(self, process: subprocess.Popen, slot: str | None):
        self.process = process
        gpu = f" on GPU {slot}" if slot is not None else ""
        self.description = f"pid {process.pid}{gpu}"

    def done(self) -> bool:
        return self.process.poll() is not None

    def outcome(self) -> Outcome:
        return Outcome(self.process.returncode)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ProcessLauncher:
    """Runs trainings as children of the runner: one at a time, or with ``gpus`` one per GPU
    at a time, each seeing only its GPU (``CUDA_VISIBLE_DEVICES``)."""

    poll_s = 0.1

    def __init__(self, gpus: Sequence[str] = ()):
        self.gpus = list(gpus)

    def slots(self, count: int) -> list[str | None]:
        return list(self.gpus) or [None]

    def start(self, name: str, command: TrainCommand, slot: str | None) -> Handle:
        env = dict(os.environ)
        if slot is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot
        return ProcessHandle(command.popen(env), slot)

    def reattach(self, name: str) -> None:
        return None  # children die with the runner (see _die_with_parent)


# ---- submitit jobs -----------------------------------------------------------------------
class JobHandle:
    def __init__(self, job: submitit.Job, cluster: str, reattached: bool = False):
        self.job = job
        self.cluster = cluster
        self.reattached = reattached
        self.description = f"{cluster} job {job.job_id}"

    def done(self) -> bool:
        if self.cluster == "local" and self.reattached:
            # A local job of an earlier runner: its controller process is not our child.
            return not pid_alive(int(self.job.job_id))
        return self.job.done()

    def outcome(self) -> Outcome:
        try:
            return Outcome(self.job.result())
        except Exception as error:  # the job itself failed: node lost, time limit, ...
            lines = str(error).strip().splitlines()
            return Outcome(None, "\n".join(lines[-15:]) or type(error).__name__)

    def stop(self) -> None:
        if self.cluster == "local":
            self.job.cancel()
        # SLURM jobs keep running; a rerun of the study re-attaches to them.


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each submitit job (``--partition`` etc. of tools/ablate.py)."""

    partition: str | None = None
    timeout_min: int = 24 * 60
    gpus_per_run: int = 1
    cpus_per_run: int | None = None
    mem_gb: float | None = None


class SubmititLauncher:
    """Each training is a submitit job: ``cluster="slurm"`` submits through
    ``AutoExecutor`` (one sbatch job per run, the cluster queues them all at once),
    ``cluster="local"`` through ``LocalExecutor`` (one job per GPU slot at a time).

    Job ids go to ``jobs.json`` in ``folder``, so a rerun after the runner was killed waits
    for jobs that are still running instead of submitting the same run twice.
    """

    def __init__(
        self, cluster: str, folder: Path, resources: SlurmOptions, gpus: Sequence[str] = ()
    ):
        self.cluster = cluster
        self.folder = Path(folder)
        self.gpus = list(gpus)
        self.registry = self.folder / "jobs.json"
        if cluster == "slurm":
            self.poll_s = 30.0
            self.executor = submitit.AutoExecutor(folder=self.folder, cluster="slurm")
            self.executor.update_parameters(
                timeout_min=resources.timeout_min,
                gpus_per_node=resources.gpus_per_run,
                tasks_per_node=1,
                cpus_per_task=resources.cpus_per_run,
                mem_gb=resources.mem_gb,
                slurm_partition=resources.partition,
            )
        elif cluster == "local":
            self.poll_s = 1.0
            self.executor = submitit.LocalExecutor(folder=self.folder)
            self.executor.update_parameters(
                timeout_min=resources.timeout_min, gpus_per_node=resources.gpus_per_run
            )
        else:
            raise ValueError(f"unknown submitit cluster {cluster!r}: 'slurm' or 'local'")

    def slots(self, count: int) -> list[str | None]:
        if self.cluster == "slurm":
            return [None] * max(count, 1)
        return list(self.gpus) or [None]

    def start(self, name: str, command: TrainCommand, slot: str | None) -> Handle:
        params = {"name": name} if self.cluster == "slurm" else {}
        if slot is not None:
            params.update(visible_gpus=[int(slot)], gpus_per_node=1)
        self.executor.update_parameters(**params)
        job = self.executor.submit(command)
        self._record(name, {"job_id": job.job_id, "slot": slot, "host": socket.gethostname()})
        return JobHandle(job, self.cluster)

    def reattach(self, name: str) -> tuple[Handle, str | None] | None:
        entry = self._jobs().get(name)
        if not entry or entry.get("cluster") != self.cluster:
            return None
        if self.cluster == "local":
            if entry.get("host") != socket.gethostname() or not pid_alive(int(entry["job_id"])):
                return None
            handle = JobHandle(submitit.LocalJob(self.folder, entry["job_id"]), "local", True)
        else:
            handle = JobHandle(submitit.SlurmJob(self.folder, entry["job_id"]), "slurm", True)
            if handle.done():
                return None
        return handle, entry.get("slot")

    def _jobs(self) -> dict:
        try:
            return json.loads(self.registry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _record(self, name: str, entry: dict) -> None:
        jobs = self._jobs()
        jobs[name] = {"cluster": self.cluster, **entry}
        atomic_write_json(self.registry, jobs)


# ---- the scheduling loop -----------------------------------------------------------------
def execute(
    launcher: Launcher,
    items: Sequence[tuple[str, TrainCommand]],
    on_start: Callable[[str, Handle, bool], None],
    on_done: Callable[[str, Outcome], None],
) -> None:
    """Run ``items`` (name, command) as slots free up, calling ``on_done`` in completion
    order. Jobs of an earlier runner that are still alive are waited for, not restarted.
    On an interrupt the local trainings are stopped (they resume on the next run)."""
    free = launcher.slots(len(items))
    pending: deque[tuple[str, TrainCommand]] = deque()
    active: dict[str, tuple[Handle, str | None]] = {}
    for name, command in items:
        found = launcher.reattach(name)
        if found is None:
            pending.append((name, command))
            continue
        active[name] = found
        if found[1] in free:
            free.remove(found[1])
        on_start(name, found[0], True)
    try:
        while pending or active:
            while pending and free:
                name, command = pending.popleft()
                slot = free.pop(0)
                handle = launcher.start(name, command, slot)
                active[name] = (handle, slot)
                on_start(name, handle, False)
            finished = [name for name, (handle, _) in active.items() if handle.done()]
            for name in finished:
                handle, slot = active.pop(name)
                free.append(slot)
                on_done(name, handle.outcome())
            if not finished:
                time.sleep(launcher.poll_s)
    finally:
        for handle, _ in active.values():
            handle.stop()
