"""Phase 2's stage sets: ``--top-k-from``, else the top-k of a complete phase 1, else the
recorded selection (``phase2_selection.json``: extended, never reordered, so exp numbers
never change)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_write_json
from ..run_files import FINAL_RESULTS, PHASE2_SELECTION, lower_is_better
from .options import StudyError, StudyOptions
from .plan import parse_stage_label, phase1_plan
from .ranking import rank, top_k
from .status import Status
from .summary import ExperimentResults, collect, noise_sigma


@dataclass
class Selection:
    """``requested`` are trained now; ``full`` (the recorded selection, extended) fixes the
    exp numbers; ``notes`` are (event, message) lines for the master log."""

    requested: list[str]
    full: list[str]
    notes: list[tuple[str, str]]


def recorded_selection(base: Path) -> list[str]:
    path = base / PHASE2_SELECTION
    return json.loads(path.read_text(encoding="utf-8"))["selection"] if path.is_file() else []


def record_selection(base: Path, full: list[str], select_on: str) -> None:
    if full != recorded_selection(base):
        updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write_json(
            base / PHASE2_SELECTION,
            {"selection": full, "select_on": select_on, "updated_at": updated},
        )


def select(base: Path, o: StudyOptions) -> Selection:
    recorded, k, split, key = recorded_selection(base), o.top_k, o.select_on, o.select_metric
    notes: list[tuple[str, str]] = []
    if o.top_k_from:
        requested = list(dict.fromkeys(parse_stage_label(x) for x in o.top_k_from))
        notes.append(("SELECT", f"phase 2 on {', '.join(requested)} (--top-k-from)"))
    else:
        phase1 = [collect(base, e, o.seeds) for e in phase1_plan()]
        missing = [c for c in phase1 if c.status is not Status.FINISHED]
        if missing and recorded:
            requested = recorded[:k]
            notes.append(("SELECT", f"phase 2 on its recorded selection {requested}"))
        elif missing:
            names = ", ".join(f"{c.experiment.name} ({c.status.value})" for c in missing)
            raise StudyError(
                f"phase 2 needs a complete phase 1 to pick its top-{k} on {split} {key}; "
                f"not finished ({o.seeds} seed(s) each): {names}. Run --phase 1 first, "
                "or name the configurations with --top-k-from (e.g. s3,s23,s34)"
            )
        else:
            requested = _rank_phase1(phase1, o, notes)
    full = recorded + [label for label in requested if label not in recorded]
    return Selection(requested, full, notes)


def _rank_phase1(phase1: Sequence[ExperimentResults], o: StudyOptions, notes: list) -> list[str]:
    split, k, key = o.select_on, o.top_k, o.select_metric
    scores = {}
    for c in phase1:
        stats = c.stats(split, key)
        if stats is None or stats.n < len(c.results):
            raise StudyError(
                f"{c.experiment.name}: {FINAL_RESULTS} has no {split} {key} "
                "(is DATASETS.VAL empty, or TEST.EVALUATORS without that metric?); "
                "cannot rank phase 1"
            )
        scores[c.experiment.config.stage_label] = stats
    sigma = noise_sigma(phase1, key)
    ranking = rank(scores, sigma, lower_is_better(key))
    chosen, warning = top_k(ranking, k, sigma)
    noise = f"pooled seed std {sigma:.2f}" if sigma is not None else "seed noise unknown"
    lines = [f"phase 1 by {split} {key} (mean ± std over {o.seeds} seed(s); {noise}):"]
    for r in ranking:  # the chosen ones marked
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
