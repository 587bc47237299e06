"""A throw-away one-node SLURM cluster for tests: its own munged, slurmctld and slurmd.

Debian's ``slurm-wlm`` + ``munge`` (``.ci/run`` installs them), run as root with no systemd
and no cgroups (``proctrack/linuxproc``, ``task/none``). Everything the cluster writes
(config, munge key and socket, state, spool, logs) lives in one temporary folder, its ports
are free ports on 127.0.0.1, and ``SLURM_CONF`` is set only in the environment handed to
the processes that talk to it, so two test sessions on one machine never meet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


def missing_reason() -> str | None:
    """Why no cluster can be started here, or None."""
    missing = [name for name in BINARIES if shutil.which(name, path=_search_path()) is None]
    if missing:
        return (
            f"SLURM binaries not found ({', '.join(missing)}): "
            "`apt-get install -y slurm-wlm munge` (.ci/run does it as root)"
        )
    if os.geteuid() != 0:
        return "a test SLURM cluster runs slurmd as root; this session is not root"
    return None


def _search_path() -> str:
    return f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


class SlurmCluster:
    """``start()`` brings the node to ``idle``; ``stop()`` kills the daemons it started
    and removes the folder. ``env`` is the environment for clients (sbatch, submitit)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.node = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        self.memory_mb = int(_memory_mb() * 0.8)
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "SLURM_CONF": str(self.conf),
            "PATH": _search_path(),
        }
        for name in [k for k in self.env if k.startswith(("SLURM_", "SBATCH_", "SRUN_"))]:
            if name != "SLURM_CONF":  # a test session inside a SLURM job must not leak its own
                del self.env[name]

    def _write_config(self) -> None:
        state, spool, logs = (self.root / d for d in ("state", "spool", "log"))
        for folder in (state, spool, logs, self.munge_socket.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.munge_socket.parent.chmod(0o755)
        settings = {
            "ClusterName": f"t{os.getpid()}",
            "SlurmctldHost": f"{self.node}(127.0.0.1)",
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket},cred_expire=10",
            "StateSaveLocation": state,
            "SlurmdSpoolDir": spool,
            "SlurmctldPidFile": self.root / "slurmctld.pid",
            "SlurmdPidFile": self.root / "slurmd.pid",
            "SlurmctldLogFile": logs / "slurmctld.log",
            "SlurmdLogFile": logs / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "DefMemPerCPU": self.memory_mb // self.cpus,
            "SchedulerType": "sched/backfill",
            "SchedulerParameters": "sched_interval=2,bf_interval=2",
            "ReturnToService": 2,
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/none",
            "MpiDefault": "none",
            "KillWait": 5,
            "MinJobAge": 600,
            "SlurmctldTimeout": 30,
            "SlurmdTimeout": 30,
            "InactiveLimit": 0,
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines += [
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.memory_mb} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _start(self, argv: list[str], log: str) -> subprocess.Popen:
        with open(self.root / "log" / log, "ab") as out:
            process = subprocess.Popen(
                argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def start(self, timeout_s: float = 60) -> None:
        self._write_config()
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        munge = self.root / "munge"
        self._start(
            ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
             f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}",
             f"--seed-file={munge / 'munged.seed'}", f"--log-file={munge / 'munged.log'}"],
            "munged.out",
        )  # fmt: skip
        self._wait(lambda: self.munge_socket.exists(), timeout_s, "munged's socket")
        self._start(["slurmctld", "-D", "-i"], "slurmctld.out")
        self._start(["slurmd", "-D", "-N", self.node], "slurmd.out")
        self._wait(lambda: self.node_state() == "idle", timeout_s, "the node to become idle")

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"no {what} in {timeout_s:.0f} s"
                raise RuntimeError(f"test SLURM cluster did not start: {why}\n{self.logs()}")
            time.sleep(0.2)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """A client command (squeue, scontrol, ...) against this cluster."""
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
        return result

    def node_state(self) -> str:
        result = self.run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job slurmctld knows (running, pending, and ended ones it still holds)."""
        text = self.run("scontrol", "show", "job", "--oneliner").stdout
        jobs = {}
        for line in text.splitlines():
            if not line.startswith("JobId="):
                continue
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            jobs[fields["JobId"]] = fields
        return jobs

    def queue(self) -> dict[str, str]:
        """Job id → state of the jobs ``squeue`` lists (pending, running, completing)."""
        text = self.run("squeue", "-h", "-o", "%i %T", check=False).stdout
        return dict(line.split() for line in text.splitlines() if line.strip())

    def logs(self) -> str:
        parts = []
        for path in [*sorted((self.root / "log").glob("*")), self.root / "munge" / "munged.log"]:
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-15:]
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def cancel_all(self) -> None:
        if self.queue():
            self.run("scancel", "--full", *self.queue(), check=False)

    def stop(self) -> None:
        """Cancel the jobs, stop the daemons, kill whatever of the cluster is left (job
        steps outlive a killed slurmd), remove the folder."""
        if self.processes and all(p.poll() is None for p in self.processes):
            self.cancel_all()
            deadline = time.monotonic() + 20
            while self.queue() and time.monotonic() < deadline:
                time.sleep(0.5)
        for process in reversed(self.processes):  # slurmd, slurmctld, munged
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.processes.clear()
        for pid in self._leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def _leftovers(self) -> list[int]:
        """Processes started for this cluster (slurmstepd, job scripts): their environment
        names this cluster's slurm.conf."""
        mark = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in environ:
                found.append(int(entry.name))
        return found
