"""Where trainings run: child processes here, or submitit jobs (SLURM, or this machine).
Each training is its own ``tools/train_net.py`` process, so a crash or an OOM kill never
takes the study down. Launchers offer slots (GPUs, ``--max-jobs``) to :func:`execute`."""

from __future__ import annotations

import ctypes
import getpass
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

import submitit

from ..atomic import atomic_write_json
from ..run_files import CONSOLE_LOG, FAILED_RECORD, JOBS_REGISTRY
from .lock import pid_alive
from .status import has_checkpoint, read_json

try:  # resolved here, not in the forked child (no dynamic loading between fork and exec)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def _die_with_parent() -> None:
    """Child side of fork: SIGTERM when the runner dies, so no orphan training races a rerun."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _in_slurm_job() -> None:
    """Also ignore SIGUSR2, the time-limit warning sent to every process of the job: the
    job's main process (submitit) requeues the job; the training goes on until then."""
    _die_with_parent()
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


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

    def popen(
        self, env: dict[str, str] | None = None, in_slurm_job: bool = False
    ) -> subprocess.Popen:
        """Start it with stdout and stderr appended to ``console.log`` in the run folder."""
        run_dir = Path(self.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / FAILED_RECORD).unlink(missing_ok=True)
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
                preexec_fn=_in_slurm_job if in_slurm_job else _die_with_parent,
            )

    def __call__(self) -> int:
        """Inside a submitit job: train, return train_net's exit code. In SLURM, a training
        killed by a signal was pre-empted, requeued, cancelled or timed out: the job ends
        without a result, so the runner reads its fate from SLURM (and waits if requeued)."""
        in_slurm = submitit.JobEnvironment().cluster == "slurm"
        returncode = self.popen(in_slurm_job=in_slurm).wait()
        if in_slurm and returncode < 0:
            raise SystemExit(128 - returncode)
        return returncode


@dataclass(frozen=True)
class Outcome:
    """How a training ended: its exit code, or why there is none (a lost job)."""

    returncode: int | None
    error: str | None = None


# ---- child processes ----------------------------------------------------------------------
@dataclass
class ProcessHandle:
    process: subprocess.Popen
    description: str

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
        gpu = {} if slot is None else {"CUDA_VISIBLE_DEVICES": slot}
        process = command.popen({**os.environ, **gpu})
        return ProcessHandle(process, f"pid {process.pid}{f' on GPU {slot}' if gpu else ''}")

    def reattach(self, name: str) -> None:
        return None  # children die with the runner (see _die_with_parent)


# ---- submitit jobs -----------------------------------------------------------------------
# SLURM job states in which the job may still run (again) and write its result.
SLURM_ACTIVE = frozenset({
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED",
    "REQUEUE_HOLD", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "PREEMPTED",
})  # fmt: skip
SLURM_GONE = "GONE"  # no longer known to slurmctld (ended more than MinJobAge ago)


class SlurmQueue:
    """Job states from one ``squeue`` call for all of the user's jobs, at most every
    ``every_s`` seconds. (submitit asks ``sacct``, which needs slurmdbd, not on every cluster.)"""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s
        self.states: dict[str, str] = {}
        self.checked = float("-inf")
        self.registered: dict[str, float] = {}

    def register(self, job_id: str) -> None:
        """Note a job when it is submitted, so that one squeue call covers all jobs just
        submitted instead of one call each."""
        self.registered.setdefault(job_id, time.monotonic())

    def state(self, job_id: str, max_age_s: float | None = None) -> str | None:
        """The job's state, :data:`SLURM_GONE`, or None while squeue cannot be asked."""
        self.register(job_id)
        too_old = time.monotonic() - self.checked > (max_age_s or self.every_s)
        if too_old or self.registered[job_id] > self.checked:
            self._refresh()
        if self.checked < self.registered[job_id]:
            return None
        return self.states.get(job_id, SLURM_GONE)

    def _refresh(self) -> None:
        user = getpass.getuser()
        argv = ["squeue", "--noheader", "--states=all", "--format=%i|%T", "--user", user]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return
        if result.returncode == 0:
            pairs = (line.split("|", 1) for line in result.stdout.splitlines() if "|" in line)
            self.states = {job_id.strip(): state.strip() for job_id, state in pairs}
            self.checked = time.monotonic()


@dataclass
class JobHandle:
    job: submitit.Job
    cluster: str
    reattached: bool = False
    queue: SlurmQueue | None = None

    @property
    def description(self) -> str:
        return f"{self.cluster} job {self.job.job_id}"

    def _has_result(self) -> bool:
        return self.job.paths.result_pickle.exists()

    def done(self) -> bool:
        if self.cluster == "local" and self.reattached:
            # A local job of an earlier runner: its controller process is not our child.
            return not pid_alive(int(self.job.job_id))
        if self.queue is None:
            return self.job.done()
        # With a result, done once SLURM agrees too, so --max-jobs holds in squeue.
        has_result = self._has_result()
        state = self.queue.state(self.job.job_id, max_age_s=1.0 if has_result else None)
        return has_result if state is None else state not in SLURM_ACTIVE

    def outcome(self) -> Outcome:
        if self.queue is not None and not self._has_result():
            state = self.queue.state(self.job.job_id)
            ended = "is no longer known to SLURM" if state == SLURM_GONE else f"ended {state}"
            output = (self.job.stderr() or "").strip().splitlines()[-5:]
            detail = "\n".join(["", *output]) if output else ""
            return Outcome(None, f"SLURM job {self.job.job_id} {ended} without a result{detail}")
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
class NotSubmitted:
    """A job sbatch refused (unknown partition, account, ...): the run fails, the study goes on."""

    error: str
    description = "not submitted"

    def done(self) -> bool:
        return True

    def outcome(self) -> Outcome:
        return Outcome(None, self.error)

    def stop(self) -> None:
        pass


# SLURM may send the time-limit warning (SIGUSR2) up to 60 s before it is due; one that came
# before submitit installed its handler would kill the job. So the warning is due 90 s before
# the limit but never before 90 s after the start, which needs a limit of 2 min or more.
WARNING_S = 90
MIN_TIMEOUT_MIN = 2


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each submitit job: ``--partition`` … ``--max-requeues`` of tools/ablate.py."""

    partition: str | None = None
    timeout_min: int = 24 * 60
    gpus_per_run: int = 1
    cpus_per_run: int | None = None
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    max_jobs: int | None = None
    max_requeues: int = 3


class SubmititLauncher:
    """Each training a submitit job: one sbatch job per run (``"slurm"``), or one
    ``LocalExecutor`` job per GPU slot (``"local"``). Job ids go to ``jobs.json``, so a
    rerun waits for jobs still queued or running instead of submitting them twice."""

    def __init__(
        self, cluster: str, folder: Path, resources: SlurmOptions, gpus: Sequence[str] = ()
    ):
        self.cluster = cluster
        self.folder = Path(folder)
        self.gpus = list(gpus)
        self.resources = resources
        self.registry = self.folder / JOBS_REGISTRY
        self.queue: SlurmQueue | None = None
        if cluster == "slurm":
            if resources.timeout_min < MIN_TIMEOUT_MIN:
                raise ValueError(
                    f"a SLURM time limit of {resources.timeout_min} min is too short for the "
                    f"time-limit warning: at least {MIN_TIMEOUT_MIN} min"
                )
            self.poll_s = 2.0  # a result file is checked at each poll, squeue less often
            self.queue = SlurmQueue()
            self.executor = submitit.AutoExecutor(
                folder=self.folder, cluster="slurm", slurm_max_num_timeout=resources.max_requeues
            )
            extra = {
                "slurm_account": resources.account, "slurm_qos": resources.qos,
                "gpus_per_node": resources.gpus_per_run or None,  # 0: a CPU-only cluster
            }  # fmt: skip
            self.executor.update_parameters(
                timeout_min=resources.timeout_min,
                tasks_per_node=1,
                cpus_per_task=resources.cpus_per_run,
                mem_gb=resources.mem_gb,
                slurm_partition=resources.partition,
                slurm_signal_delay_s=min(WARNING_S, resources.timeout_min * 60 - WARNING_S),
                # requeueable even where the cluster's default is JobRequeue=0
                slurm_additional_parameters={"requeue": True},
                **{key: value for key, value in extra.items() if value is not None},
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
            limit = self.resources.max_jobs or count
            return [None] * max(min(count, limit), 1)
        return list(self.gpus) or [None]

    def start(self, name: str, command: TrainCommand, slot: str | None) -> Handle:
        params = {"name": name} if self.cluster == "slurm" else {}
        if slot is not None:
            params.update(visible_gpus=[int(slot)], gpus_per_node=1)
        self.executor.update_parameters(**params)
        try:
            job = self.executor.submit(command)
        except submitit.core.utils.FailedJobError as error:
            return NotSubmitted(f"sbatch refused the job: {str(error).strip()}")
        if self.queue is not None:
            self.queue.register(job.job_id)
        host = socket.gethostname()
        entry = {"cluster": self.cluster, "job_id": job.job_id, "slot": slot, "host": host}
        atomic_write_json(self.registry, {**read_json(self.registry), name: entry})
        return JobHandle(job, self.cluster, queue=self.queue)

    def reattach(self, name: str) -> tuple[Handle, str | None] | None:
        """A job of an earlier runner still queued or running, and its slot."""
        entry = read_json(self.registry).get(name)
        if not entry or entry.get("cluster") != self.cluster:
            return None
        if self.cluster == "local" and entry.get("host") != socket.gethostname():
            return None  # its controller process cannot be checked from here
        job_type = submitit.LocalJob if self.cluster == "local" else submitit.SlurmJob
        handle = JobHandle(job_type(self.folder, entry["job_id"]), self.cluster, True, self.queue)
        return None if handle.done() else (handle, entry.get("slot"))


# What a launcher starts (done, outcome, stop, description), and the launchers.
Handle = ProcessHandle | JobHandle | NotSubmitted
Launcher = ProcessLauncher | SubmititLauncher


# ---- the scheduling loop -----------------------------------------------------------------
def execute(
    launcher: Launcher,
    items: Sequence[tuple[str, TrainCommand]],
    on_start: Callable[[str, Handle, bool], None],
    on_done: Callable[[str, Outcome], None],
) -> None:
    """Run ``items`` as slots free up; waits for jobs of an earlier runner still alive
    instead of restarting them. On an interrupt, local trainings stop (a rerun resumes)."""
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
