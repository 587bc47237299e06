"""The study runner behind ``tools/ablate.py``: lock → phase 1 → top-k → phase 2, or lock →
a comparison's methods. Every decision reads the run folders (:mod:`.status`), so a rerun
after a kill skips what finished, resumes checkpoints, retries failures and re-attaches to
submitit jobs still running."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_write_json
from ..run_files import (
    CHECKPOINT_DIR,
    EXPERIMENT_ID,
    LAST_CHECKPOINT,
    MASTER_LOG,
    STUDY_LOCK,
    STUDY_MANIFEST,
    SUBMITIT_FOLDER,
)
from .executors import (
    Handle,
    Launcher,
    Outcome,
    ProcessLauncher,
    SubmititLauncher,
    TrainCommand,
    execute,
)
from .lock import LockHeldError, StudyLock
from .options import StudyError, StudyOptions
from .plan import (
    STAGE_SETS,
    Experiment,
    Run,
    matches,
    phase1_plan,
    phase2_plan,
    unique_runs,
)
from .progress import MasterLog, Progress, hours_text
from .selection import Selection, record_selection, recorded_selection, select
from .status import (
    Status,
    failure_reason,
    has_checkpoint,
    metric,
    read_final_results,
    record_failure,
    run_status,
)
from .summary import collect, write_summary


@dataclass(frozen=True)
class Decision:
    """What a run now would do with one experiment (the dry run renders these)."""

    experiment: Experiment
    status: Status
    action: str  # "train N", "skip", "reuse exp_NNN", "- (--only)", "- (not top-k)"
    to_train: int = 0


class Study:
    """Schedules the trainings of one study folder; options come checked from the CLI."""

    def __init__(self, options: StudyOptions, echo: Callable[[str], None] | None = None):
        self.o = options
        self.base = Path(options.output_base).resolve()
        self.log = MasterLog(self.base / MASTER_LOG, echo)
        self.select_metric = options.select_metric
        self.selection = recorded_selection(self.base) if self.o.phased else []
        self.running: set[str] = set()
        self.runs: dict[str, Run] = {}
        self.started: dict[str, float] = {}
        self.failed = 0
        self.progress: Progress | None = None

    # ---- decisions -----------------------------------------------------------------
    def _in_scope(self, experiment: Experiment) -> bool:
        return not self.o.only or matches(experiment, self.o.only)

    def _wants_phase2(self) -> bool:
        numbers = [int(EXPERIMENT_ID.match(i)["number"]) for i in self.o.only]  # CLI-checked
        return self.o.phase != "1" and (not numbers or max(numbers) > len(STAGE_SETS))

    def _selection(self) -> Selection | str:
        """Phase 2's selection, or why there is none yet (an error with ``--phase 2``)."""
        try:
            return select(self.base, self.o)
        except StudyError as error:
            if self.o.phase == "2":
                raise
            return str(error)

    def decide(self) -> tuple[list[Decision], list[str]]:
        """What a run now would do with each experiment in the requested phases, and notes
        (the phase-2 selection, or why phase 2 cannot be planned yet). Writes nothing."""
        notes, requested = [], set()
        if self.o.phased:
            selection = self._selection() if self.o.phase != "1" else None
            phase2 = []
            if isinstance(selection, str):
                notes.append(f"phase 2: top-{self.o.top_k} of phase 1 × 8 once phase 1 is "
                             f"complete ({selection})")  # fmt: skip
            elif selection:
                phase2, requested = phase2_plan(selection.full), set(selection.requested)
                notes += [f"{event}: {message}" for event, message in selection.notes]
            experiments = (phase1_plan() if self.o.phase != "2" else []) + phase2
        else:
            experiments = self.o.experiments()
        decisions = []
        for e in experiments:
            c = collect(self.base, e, self.o.seeds)
            todo = sum(s is not Status.FINISHED for s in c.statuses)
            if e.reused:
                action, todo = f"reuse {e.exp_id}", 0
            elif not self._in_scope(e):
                action, todo = "- (--only)", 0
            elif e.phase == 2 and e.config.stage_label not in requested:
                action, todo = "- (not top-k)", 0
            else:
                action = f"train {todo}" if todo else "skip"
            decisions.append(Decision(e, c.status, action, todo))
        return decisions, notes

    # ---- running -------------------------------------------------------------------
    def run(self) -> int:
        """Run the study; 0 when every run this invocation touched finished, 1 otherwise."""
        lock = StudyLock(self.base / STUDY_LOCK, on_takeover=lambda m: self.log.write("LOCK", m))
        try:
            lock.acquire()
        except LockHeldError as error:
            raise StudyError(str(error)) from None
        try:
            self._check_manifest()
            launcher = self._launcher()
            self.log.write("STUDY", f"start: {' '.join(sys.argv)}")
            with Progress() as self.progress:
                return self._run_phases(launcher)
        except KeyboardInterrupt as interrupt:
            for name in sorted(self.running):
                self.log.write("INTERRUPTED", f"{name}: stopped; the next run resumes it")
            self.log.write("STUDY", f"interrupted ({interrupt or 'Ctrl-C'}); rerun to continue")
            return 130
        finally:
            self.running.clear()
            self._write_summary()
            lock.release()

    def _run_phases(self, launcher: Launcher) -> int:
        if not self.o.phased:
            self._run_experiments(launcher, self.o.experiments())
        elif self.o.phase != "2":
            self._run_experiments(launcher, phase1_plan())
        if self.o.phased and self._wants_phase2():
            selection = self._selection()
            if isinstance(selection, str):
                self.log.write("WARN", f"phase 2 not started: {selection}")
                return 1 if self.failed else 2
            for event, message in selection.notes:
                self.log.write(event, message)
            record_selection(self.base, selection.full, self.o.select_on)
            self.selection = selection.full
            phase2 = phase2_plan(self.selection)
            known = phase1_plan() + phase2
            unknown = [i for i in self.o.only if not any(matches(e, [i]) for e in known)]
            if unknown:
                names = ", ".join(e.name for e in phase2 if not e.reused) or "empty"
                raise StudyError(f"--only {unknown}: not in the plan (phase 2 is: {names})")
            chosen = [e for e in phase2 if e.config.stage_label in selection.requested]
            self._run_experiments(launcher, chosen)
        self.log.write(
            "STUDY",
            f"end: {self.progress.done_now - self.failed} finished, {self.failed} failed; "
            f"summary {self.base / self.o.summary_name}",
        )
        return 1 if self.failed else 0

    def _launcher(self) -> Launcher:
        if self.o.launcher == "subprocess":
            return ProcessLauncher(self.o.gpus)
        try:
            return SubmititLauncher(
                self.o.launcher, self.base / SUBMITIT_FOLDER, self.o.resources, self.o.gpus
            )
        except RuntimeError as error:  # e.g. no srun: not on a SLURM cluster
            raise StudyError(f"--launcher {self.o.launcher}: {error}") from None

    def _check_manifest(self) -> None:
        """One output folder, one set of settings: refuse to mix results of different
        configs, epochs or data in one summary."""
        path = self.base / STUDY_MANIFEST
        current = {"config_file": str(self.o.config_file.resolve()), "opts": list(self.o.opts)}
        if not path.is_file():
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            atomic_write_json(path, {**current, "created_at": created})
            return
        recorded = json.loads(path.read_text(encoding="utf-8"))
        changed = [
            f"{key}: {recorded.get(key)} → {value}"
            for key, value in current.items()
            if recorded.get(key) != value
        ]
        if changed:
            raise StudyError(
                f"{self.base} holds a study with other settings ({'; '.join(changed)}); use "
                f"a new --output-base, or edit {STUDY_MANIFEST} if the change is deliberate"
            )

    def _command(self, run: Run) -> TrainCommand:
        return TrainCommand(
            python=sys.executable,
            script=str(self.o.train_script.resolve()),
            config_file=str(self.o.config_file.resolve()),
            opts=(*self.o.opts, *run.experiment.config.opts(), "SEED", str(run.seed)),
            run_dir=str(self.base / run.folder),
            cwd=str(Path.cwd()),
            num_gpus=1 if self.o.gpus else self.o.resources.gpus_per_run,
        )

    def _run_experiments(self, launcher: Launcher, experiments: Sequence[Experiment]) -> None:
        runs = unique_runs([e for e in experiments if self._in_scope(e)], self.o.seeds)
        todo = []
        for run in runs:
            status = run_status(self.base / run.folder)
            if status is Status.FINISHED:
                self.log.write("SKIP", f"{run.name}: finished")
                continue
            if status is Status.FAILED:
                self.log.write("RETRY", f"{run.name}: failed before, trying again")
            todo.append(run)
            self.runs[run.name] = run
        self.progress.add(len(runs), len(runs) - len(todo))
        self._write_summary()
        execute(launcher, [(r.name, self._command(r)) for r in todo], self._started, self._ended)

    def _started(self, name: str, handle: Handle, reattached: bool) -> None:
        folder = self.base / self.runs[name].folder
        self.running.add(name)
        self.started[name] = time.monotonic()
        if reattached:
            self.log.write("ATTACH", f"{name}: {handle.description}, started by an earlier runner")
        elif has_checkpoint(folder):
            checkpoint = f"{CHECKPOINT_DIR}/{(folder / LAST_CHECKPOINT).read_text().strip()}"
            stopped = f"an earlier attempt stopped after {checkpoint}; resumed"
            self.log.write("INTERRUPTED", f"{name}: {stopped}")
            self.log.write("RESUME", f"{name} from {checkpoint} ({handle.description})")
        else:
            self.log.write("START", f"{name} ({handle.description})")
        self.progress.running(self.running)
        self._write_summary()

    def _ended(self, name: str, outcome: Outcome) -> None:
        folder = self.base / self.runs[name].folder
        self.running.discard(name)
        wall = (time.monotonic() - self.started.pop(name)) / 3600
        results = read_final_results(folder)
        self.progress.finished_one(self.running)
        if results is not None:
            key = self.select_metric
            val, test = metric(results, "val", key), metric(results, "test", key)
            self.log.write(
                "END",
                f"{name}: val {key} {_fmt(val)}, test {key} {_fmt(test)}, {hours_text(wall)}; "
                f"{self.progress.eta()}",
            )
        else:
            reason = failure_reason(outcome.returncode, outcome.error)
            record = record_failure(folder, reason, outcome.returncode)
            self.failed += 1
            tail = "\n".join(record["log_tail"].splitlines()[-12:])
            self.log.write("FAILED", f"{name}: {reason}; log tail:\n{tail}")
        self._write_summary()

    def _write_summary(self) -> None:
        """Every summary row as far as the plan is known (phase 2 on its selection)."""
        running = frozenset(self.running)
        rows = [
            collect(self.base, e, self.o.seeds, running) for e in self.o.experiments(self.selection)
        ]
        write_summary(self.base / self.o.summary_name, rows, self.o.columns, self.select_metric)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
