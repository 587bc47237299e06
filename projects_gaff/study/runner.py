"""The study runner behind ``tools/ablate.py``: lock → phase 1 → top-k on val AP → phase 2
(the GAFF study), or lock → the methods of a comparison (``--study fusion`` / ``modality``,
:mod:`.comparison`), with the same folders, skipping, resuming, seeds and summary.

Every decision reads the run folders (see :mod:`.status`), so the runner can be killed at
any moment: a rerun skips what finished, resumes what has a checkpoint, retries what
failed, and re-attaches to submitit jobs that are still running.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_write_json
from .comparison import COMPARISONS, DEFAULT_STAGES, STUDIES, Comparison
from .executors import (
    Handle,
    Launcher,
    Outcome,
    ProcessLauncher,
    SlurmOptions,
    SubmititLauncher,
    TrainCommand,
    execute,
)
from .lock import LOCK_NAME, LockHeldError, StudyLock
from .master_log import MASTER_LOG_NAME, MasterLog
from .plan import (
    STAGE_SETS,
    Experiment,
    Run,
    matches,
    parse_stage_label,
    phase1_plan,
    phase2_plan,
    unique_runs,
)
from .ranking import rank, top_k
from .status import (
    LAST_CHECKPOINT,
    Status,
    describe_exit,
    has_checkpoint,
    metric,
    read_final_results,
    record_failure,
    run_status,
)
from .summary import (
    COMPARISON_COLUMNS,
    SUMMARY_COLUMNS,
    SUMMARY_NAME,
    ExperimentResults,
    collect,
    noise_sigma,
    write_summary,
)

SELECTION_NAME = "phase2_selection.json"
MANIFEST_NAME = "study.json"
SUBMITIT_FOLDER = "submitit"
# Set per run by the plan; a free option may not override them.
PLAN_KEYS = (
    "MODEL.GAFF.STAGES", "MODEL.GAFF.SE_REDUCTION", "MODEL.GAFF.INTER_MODE",
    "MODEL.GAFF.MERGE_BOTTLENECK", "SEED", "OUTPUT_DIR",
)  # fmt: skip
_ONLY = re.compile(r"^exp_(\d{3})(_s[1-4]+_r\d+_is[01]_mb[01])?$")
_ONLY_COMPARISON = re.compile(r"^exp_(\d{3})(_\w+)?$")


class StudyError(Exception):
    """A usage or plan problem, reported as one line (exit code 2)."""


@dataclass(frozen=True)
class StudyOptions:
    """Everything ``tools/ablate.py`` decides; ``opts`` go to every run."""

    output_base: Path
    config_file: Path
    train_script: Path
    phase: str = "all"
    top_k: int = 3
    top_k_from: tuple[str, ...] = ()
    select_on: str = "val"
    only: tuple[str, ...] = ()
    seeds: int = 1
    opts: tuple[str, ...] = ()
    launcher: str = "subprocess"
    gpus: tuple[str, ...] = ()
    resources: SlurmOptions = field(default_factory=SlurmOptions)
    study: str = "gaff"
    fusion_stages: tuple[int, ...] | None = None  # a comparison's stages; None: [2, 3]

    @property
    def comparison(self) -> Comparison | None:
        return COMPARISONS.get(self.study)

    def validate(self) -> None:
        if self.study not in STUDIES:
            raise StudyError(f"--study must be one of {', '.join(STUDIES)}, not {self.study!r}")
        checks = [
            (self.phase in ("1", "2", "all"), f"--phase must be 1, 2 or all, not {self.phase!r}"),
            (1 <= self.top_k <= len(STAGE_SETS), f"--top-k must be 1 … {len(STAGE_SETS)}"),
            (self.seeds >= 1, "--seeds must be at least 1"),
            (self.select_on in ("val", "test"), "--select-on must be val or test"),
            (
                self.launcher in ("subprocess", "local", "slurm"),
                f"unknown launcher {self.launcher}",
            ),
            (len(set(self.gpus)) == len(self.gpus), f"--gpus lists a GPU twice: {self.gpus}"),
            (
                not (self.gpus and self.launcher == "slurm"),
                "--gpus lists this machine's GPUs; SLURM jobs take --gpus-per-run",
            ),
            (len(self.opts) % 2 == 0, f"options must be KEY VALUE pairs: {list(self.opts)}"),
            (self.config_file.is_file(), f"config file {self.config_file} not found"),
            (self.train_script.is_file(), f"train script {self.train_script} not found"),
        ]
        for ok, message in checks:
            if not ok:
                raise StudyError(message)
        if self.comparison is not None:
            self._validate_comparison(self.comparison)
            return
        if self.fusion_stages is not None:
            raise StudyError("--fusion-stages is for --study fusion or modality")
        reserved = [k for k in self.opts[::2] if k in PLAN_KEYS]
        if reserved:
            raise StudyError(
                f"{', '.join(reserved)} is set for each run by the plan (stages and GAFF "
                "options by the experiment, SEED by --seeds, OUTPUT_DIR by --output-base)"
            )
        bad = [item for item in self.only if not _ONLY.match(item)]
        if bad:
            raise StudyError(f"--only takes exp_NNN or full experiment names, not {bad}")
        phase1_names = {n for e in phase1_plan() for n in (e.name, e.exp_id)}
        wrong = [i for i in self.only if _number(i) <= len(STAGE_SETS) and i not in phase1_names]
        if wrong:
            raise StudyError(f"--only {wrong}: no such phase-1 experiment")
        if self.phase == "1" and any(_number(i) > len(STAGE_SETS) for i in self.only):
            raise StudyError("--only names phase-2 experiments but --phase is 1")
        for label in self.top_k_from:
            try:
                parse_stage_label(label)
            except ValueError as error:
                raise StudyError(f"--top-k-from: {error}") from None

    def _validate_comparison(self, comparison: Comparison) -> None:
        flags = [
            (self.phase != "all", "--phase"),
            (bool(self.top_k_from), "--top-k-from"),
            (self.top_k != 3, "--top-k"),
            (self.select_on != "val", "--select-on"),
        ]
        used = [flag for given, flag in flags if given]
        if used:
            raise StudyError(f"{', '.join(used)}: GAFF-study options, not for --study {self.study}")
        stages = self.fusion_stages or DEFAULT_STAGES
        if list(stages) != sorted(set(stages)) or not set(stages) <= {1, 2, 3, 4}:
            raise StudyError(f"--fusion-stages {list(stages)}: distinct MiT stages 1-4, sorted")
        reserved = [
            k for k in self.opts[::2] if k in {"SEED", "OUTPUT_DIR", *comparison.plan_keys()}
        ]
        if reserved:
            raise StudyError(
                f"{', '.join(reserved)} is set for each run by the plan (the fused stages by "
                "--fusion-stages, the method's keys by the method, SEED by --seeds, "
                "OUTPUT_DIR by --output-base)"
            )
        bad = [item for item in self.only if not _ONLY_COMPARISON.match(item)]
        if bad:
            raise StudyError(f"--only takes exp_NNN or full experiment names, not {bad}")
        plan = comparison.plan(stages)
        unknown = [i for i in self.only if not any(matches(e, [i]) for e in plan)]
        if unknown:
            names = ", ".join(e.name for e in plan)
            raise StudyError(f"--only {unknown}: not in the {self.study} study ({names})")


def _number(only_item: str) -> int:
    return int(_ONLY.match(only_item).group(1))


@dataclass
class Selection:
    """Phase 2's stage configurations: ``requested`` are trained by this invocation; ``full``
    (the recorded selection, extended, never reordered) fixes the exp numbers."""

    requested: list[str]
    full: list[str]
    notes: list[tuple[str, str]]


class Study:
    def __init__(self, options: StudyOptions, echo: Callable[[str], None] | None = None):
        options.validate()
        self.o = options
        self.base = Path(options.output_base).resolve()
        self.log = MasterLog(self.base / MASTER_LOG_NAME, echo)
        self.comparison = options.comparison
        self.compared: list[Experiment] = (
            self.comparison.plan(options.fusion_stages or DEFAULT_STAGES) if self.comparison else []
        )
        self.phase2: list[Experiment] = (
            [] if self.comparison else phase2_plan(self._recorded_selection())
        )
        self.running: set[str] = set()
        self.runs: dict[str, Run] = {}
        self.started: dict[str, float] = {}
        self.failed = 0
        self.done_now = 0
        self.bar: tqdm | None = None
        self.t0 = time.monotonic()

    # ---- phase-2 selection ---------------------------------------------------------
    def _recorded_selection(self) -> list[str]:
        path = self.base / SELECTION_NAME
        return json.loads(path.read_text(encoding="utf-8"))["selection"] if path.is_file() else []

    def select(self) -> Selection:
        """Phase 2's configs: ``--top-k-from``, else the top-k phase-1 configs on
        validation AP (phase 1 must be complete), else the recorded selection."""
        recorded, k, split = self._recorded_selection(), self.o.top_k, self.o.select_on
        notes: list[tuple[str, str]] = []
        if self.o.top_k_from:
            requested = list(dict.fromkeys(parse_stage_label(x) for x in self.o.top_k_from))
            notes.append(("SELECT", f"phase 2 on {', '.join(requested)} (--top-k-from)"))
        else:
            phase1 = [collect(self.base, e, self.o.seeds) for e in phase1_plan()]
            missing = [c for c in phase1 if c.status is not Status.FINISHED]
            if missing and recorded:
                requested = recorded[:k]
                notes.append(("SELECT", f"phase 2 on its recorded selection {requested}"))
            elif missing:
                names = ", ".join(f"{c.experiment.name} ({c.status.value})" for c in missing)
                raise StudyError(
                    f"phase 2 needs a complete phase 1 to pick its top-{k} on {split} AP; "
                    f"not finished ({self.o.seeds} seed(s) each): {names}. Run --phase 1 first, "
                    "or name the configurations with --top-k-from (e.g. s3,s23,s34)"
                )
            else:
                requested = self._rank_phase1(phase1, notes)
        full = recorded + [label for label in requested if label not in recorded]
        return Selection(requested, full, notes)

    def _rank_phase1(self, phase1: Sequence[ExperimentResults], notes: list) -> list[str]:
        split, k = self.o.select_on, self.o.top_k
        scores = {}
        for c in phase1:
            stats = c.stats(split)
            if stats is None or stats.n < len(c.results):
                raise StudyError(
                    f"{c.experiment.name}: final_results.json has no {split} AP "
                    "(is DATASETS.VAL empty?); cannot rank phase 1"
                )
            scores[c.experiment.config.stage_label] = stats
        sigma = noise_sigma(phase1)
        ranking = rank(scores, sigma)
        chosen, warning = top_k(ranking, k, sigma)
        noise = f"pooled seed std {sigma:.2f}" if sigma is not None else "seed noise unknown"
        lines = [f"phase 1 by {split} AP (mean ± std over {self.o.seeds} seed(s); {noise}):"]
        for r in ranking:
            std = f" ± {r.stats.std:.2f}" if r.stats.std is not None else ""
            flag = "  within seed noise of #1" if r.within_noise_of_best and r.rank > 1 else ""
            pick = "  → phase 2" if r.key in chosen else ""
            lines.append(f"  #{r.rank} {r.key:<6} {r.stats.mean:6.2f}{std}{flag}{pick}")
        notes.append(("RANK", "\n".join(lines)))
        if warning:
            notes.append(("WARN", warning))
        if split == "test":
            notes.append(
                ("WARN", "phase-2 configs chosen on the TEST split: the test numbers of the "
                 "chosen configs are optimistically biased; choose on val for reportable results")
            )  # fmt: skip
        return chosen

    # ---- planning and the dry run --------------------------------------------------
    def _in_scope(self, experiment: Experiment) -> bool:
        return not self.o.only or matches(experiment, self.o.only)

    def _wants_phase2(self) -> bool:
        return self.o.phase != "1" and (
            not self.o.only or any(_number(i) > len(STAGE_SETS) for i in self.o.only)
        )

    def _check_only(self) -> None:
        known = phase1_plan() + self.phase2
        unknown = [i for i in self.o.only if not any(matches(e, [i]) for e in known)]
        if unknown:
            names = ", ".join(e.name for e in self.phase2 if not e.reused)
            raise StudyError(f"--only {unknown}: not in the plan (phase 2 is: {names or 'empty'})")

    def plan_table(self) -> str:
        """The plan as a table (``--dry-run``): what each experiment is and what a run now
        would do with it. Reads the folders, writes nothing."""
        notes, phase2, requested = [], self.phase2, set()
        if self.comparison:
            experiments = self.compared
        elif self.o.phase != "1":
            try:
                selection = self.select()
                phase2, requested = phase2_plan(selection.full), set(selection.requested)
                notes += [f"{event}: {message}" for event, message in selection.notes]
            except StudyError as error:
                if self.o.phase == "2":
                    raise
                notes.append(f"phase 2: top-{self.o.top_k} of phase 1 × 8 once phase 1 is "
                             f"complete ({error})")  # fmt: skip
        if not self.comparison:
            experiments = (phase1_plan() if self.o.phase != "2" else []) + (
                phase2 if self.o.phase != "1" else []
            )
        width = max([26] + [len(e.name) + 2 for e in experiments])
        phase = "method" if self.comparison else "phase"
        pw = max([7] + [len(e.config.method.name) + 2 for e in self.compared])
        header = (
            f"{'exp':<8}{'name':<{width}}{phase:<{pw}}{'stages':<14}{'status':<10}{'action':<16}"
            "folder"
        )
        lines = [header, "-" * len(header)]
        to_train = 0
        for e in experiments:
            c = collect(self.base, e, self.o.seeds)
            todo = sum(s is not Status.FINISHED for s in c.statuses)
            if e.reused:
                action = f"reuse {e.exp_id}"
            elif not self._in_scope(e):
                action = "- (--only)"
            elif e.phase == 2 and e.config.stage_label not in requested:
                action = "- (not top-k)"
            else:
                action = f"train {todo}" if todo else "skip"
                to_train += todo
            stages = str(list(e.config.stages))
            folder = e.runs(1)[0].folder
            kind = e.config.method.name if self.comparison else e.phase
            lines.append(
                f"{e.exp_id:<8}{e.name:<{width}}{kind:<{pw}}{stages:<14}{c.status.value:<10}"
                f"{action:<16}{folder}"
            )
        trainings = len(unique_runs(experiments, self.o.seeds))
        lines.append(
            f"{len(experiments)} summary rows, {trainings} unique trainings "
            f"({self.o.seeds} seed(s) each), {to_train} to train now; output: {self.base}"
        )
        return "\n".join(lines + notes)

    # ---- running -------------------------------------------------------------------
    def run(self) -> int:
        """Run the study; 0 when every run this invocation touched finished, 1 otherwise."""
        lock = StudyLock(self.base / LOCK_NAME, on_takeover=lambda m: self.log.write("LOCK", m))
        try:
            lock.acquire()
        except LockHeldError as error:
            raise StudyError(str(error)) from None
        try:
            self._check_manifest()
            launcher = self._launcher()
            self.log.write("STUDY", f"start: {' '.join(sys.argv)}")
            with tqdm(total=0, unit="run", desc="study", file=sys.stderr, mininterval=1) as bar:
                self.bar = bar
                return self._run_phases(launcher)
        except KeyboardInterrupt as interrupt:
            self.log.write("STUDY", f"interrupted ({interrupt or 'Ctrl-C'}); rerun to continue")
            return 130
        finally:
            self.running.clear()
            self._write_summary()
            lock.release()

    def _run_phases(self, launcher: Launcher) -> int:
        if self.comparison:
            self._run_experiments(launcher, [e for e in self.compared if self._in_scope(e)])
        if not self.comparison and self.o.phase != "2":
            self._run_experiments(launcher, [e for e in phase1_plan() if self._in_scope(e)])
        if not self.comparison and self._wants_phase2():
            try:
                selection = self.select()
            except StudyError as error:
                if self.o.phase == "2":
                    raise
                self.log.write("WARN", f"phase 2 not started: {error}")
                return 1 if self.failed else 2
            for event, message in selection.notes:
                self.log.write(event, message)
            self._record_selection(selection.full)
            self.phase2 = phase2_plan(selection.full)
            self._check_only()
            chosen = [e for e in self.phase2 if e.config.stage_label in selection.requested]
            self._run_experiments(launcher, [e for e in chosen if self._in_scope(e)])
        self.log.write(
            "STUDY",
            f"end: {self.done_now - self.failed} finished, {self.failed} failed; "
            f"summary {self._summary_path()}",
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
        path = self.base / MANIFEST_NAME
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
                f"a new --output-base, or edit {MANIFEST_NAME} if the change is deliberate"
            )

    def _record_selection(self, full: list[str]) -> None:
        if full != self._recorded_selection():
            updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
            atomic_write_json(
                self.base / SELECTION_NAME,
                {"selection": full, "select_on": self.o.select_on, "updated_at": updated},
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
        runs = unique_runs(experiments, self.o.seeds)
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
        skipped = len(runs) - len(todo)
        self.bar.total += len(runs)
        self.bar.n += skipped
        self.bar.initial += skipped
        self.bar.refresh()
        self._write_summary()
        execute(launcher, [(r.name, self._command(r)) for r in todo], self._started, self._ended)

    def _started(self, name: str, handle: Handle, reattached: bool) -> None:
        folder = self.base / self.runs[name].folder
        self.running.add(name)
        self.started[name] = time.monotonic()
        if reattached:
            self.log.write("ATTACH", f"{name}: {handle.description}, started by an earlier runner")
        elif has_checkpoint(folder):
            checkpoint = (folder / LAST_CHECKPOINT).read_text().strip()
            self.log.write("RESUME", f"{name} from checkpoints/{checkpoint} ({handle.description})")
        else:
            self.log.write("START", f"{name} ({handle.description})")
        self.bar.set_postfix_str(", ".join(sorted(self.running)), refresh=True)
        self._write_summary()

    def _ended(self, name: str, outcome: Outcome) -> None:
        folder = self.base / self.runs[name].folder
        self.running.discard(name)
        self.done_now += 1
        wall = (time.monotonic() - self.started.pop(name)) / 3600
        results = read_final_results(folder)
        self.bar.update(1)
        self.bar.set_postfix_str(", ".join(sorted(self.running)), refresh=True)
        if results is not None:
            val, test = metric(results, "val"), metric(results, "test")
            self.log.write(
                "END",
                f"{name}: val AP {_fmt(val)}, test AP {_fmt(test)}, {_hours(wall)}; {self._eta()}",
            )
        else:
            if outcome.error:
                reason = f"job failed: {outcome.error}"
            elif outcome.returncode == 0:
                reason = "exited 0 without a valid final_results.json"
            else:
                reason = describe_exit(outcome.returncode)
            record = record_failure(folder, reason, outcome.returncode)
            self.failed += 1
            tail = "\n".join(record["log_tail"].splitlines()[-12:])
            self.log.write("FAILED", f"{name}: {reason}; log tail:\n{tail}")
        self._write_summary()

    def _eta(self) -> str:
        """Remaining runs × the mean time per run finished in this session."""
        remaining = self.bar.total - self.bar.n
        if not remaining:
            return "nothing left"
        hours = (time.monotonic() - self.t0) / 3600 / self.done_now * remaining
        return f"{remaining} left, ETA {_hours(hours)}"

    def _summary_path(self) -> Path:
        return self.base / (self.comparison.summary_name if self.comparison else SUMMARY_NAME)

    def _write_summary(self) -> None:
        experiments = self.compared or phase1_plan() + self.phase2
        running = frozenset(self.running)
        write_summary(
            self._summary_path(),
            [collect(self.base, e, self.o.seeds, running) for e in experiments],
            COMPARISON_COLUMNS if self.comparison else SUMMARY_COLUMNS,
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _hours(hours: float) -> str:
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:.2f} h"
