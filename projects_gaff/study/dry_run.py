"""``tools/ablate.py --dry-run``: the runner's decisions (:meth:`.runner.Study.decide`)
rendered as a table. Reads nothing and writes nothing itself."""

from __future__ import annotations

from .plan import unique_runs
from .runner import Study


def plan_table(study: Study) -> str:
    """What each experiment is and what a run now would do with it."""
    decisions, notes = study.decide()
    phased, seeds = study.o.phased, study.o.seeds
    experiments = [d.experiment for d in decisions]
    width = max([26] + [len(e.name) + 2 for e in experiments])
    labels = [str(e.phase) if phased else e.config.method.name for e in experiments]
    pw = max([7] + [len(label) + 2 for label in labels])
    column = "phase" if phased else "method"
    header = (
        f"{'exp':<8}{'name':<{width}}{column:<{pw}}{'stages':<14}{'status':<10}{'action':<16}folder"
    )
    lines = [header, "-" * len(header)]
    for d, label in zip(decisions, labels, strict=True):
        e = d.experiment
        stages = str(list(e.config.stages))
        lines.append(
            f"{e.exp_id:<8}{e.name:<{width}}{label:<{pw}}{stages:<14}{d.status.value:<10}"
            f"{d.action:<16}{e.runs(1)[0].folder}"
        )
    trainings = len(unique_runs(experiments, seeds))
    to_train = sum(d.to_train for d in decisions)
    lines.append(
        f"{len(experiments)} summary rows, {trainings} unique trainings "
        f"({seeds} seed(s) each), {to_train} to train now; output: {study.base}"
    )
    return "\n".join([*lines, *notes])
