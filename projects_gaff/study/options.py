"""What ``tools/ablate.py`` decides for the runner (checked by the CLI), and what follows
from it for either kind of study: the two-phase GAFF study or a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..run_files import SUMMARY, comparison_summary
from .comparison import COMPARISONS, DEFAULT_STAGES, OLD_STAGES_KEY, STAGES_KEY, Comparison
from .executors import SlurmOptions
from .plan import Experiment, phase1_plan, phase2_plan, select_metric
from .summary import COMPARISON_COLUMNS, SUMMARY_COLUMNS

GAFF_PLAN_KEYS = frozenset(
    (STAGES_KEY, OLD_STAGES_KEY, "MODEL.GAFF.SE_REDUCTION",
     "MODEL.GAFF.INTER_MODE", "MODEL.GAFF.MERGE_BOTTLENECK")
)  # fmt: skip
RUN_KEYS = frozenset(("SEED", "OUTPUT_DIR"))  # set per run by --seeds and --output-base


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
        """None for the GAFF study (phase 1, then phase 2 on a stage selection)."""
        return COMPARISONS.get(self.study)

    @property
    def phased(self) -> bool:
        return self.comparison is None

    def experiments(self, selection: Sequence[str] = ()) -> list[Experiment]:
        """Every summary row: a comparison's methods, or phase 1 + phase 2 on ``selection``."""
        if self.comparison is not None:
            return self.comparison.plan(self.fusion_stages or DEFAULT_STAGES)
        return phase1_plan() + phase2_plan(selection)

    @property
    def summary_name(self) -> str:
        return SUMMARY if self.phased else comparison_summary(self.comparison.folder)

    @property
    def columns(self) -> list[str]:
        return SUMMARY_COLUMNS if self.phased else COMPARISON_COLUMNS

    @property
    def plan_keys(self) -> frozenset[str]:
        """Keys the plan sets for each run: a free option may not override them."""
        return RUN_KEYS | (GAFF_PLAN_KEYS if self.phased else self.comparison.plan_keys())

    @property
    def select_metric(self) -> str:
        """``TEST.SELECT_METRIC`` of the runs: the options, else the config file."""
        return select_metric(self.config_file, self.opts)
