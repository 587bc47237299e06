"""The comparison studies: fusion methods and modality ablations, each method one experiment
(its ``configs/fusion[/modality]/<name>.yaml`` as options) on the same base config.

Fusing methods fuse the study's stages (``--fusion-stages``); one that fuses nothing sets
``MODEL.FUSION.STAGES []`` itself and its name has no stage label. Names
``exp_<XXX>_<method>_s<stages>`` count from 101 / 201 in list order, so a method appended
later never renames a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from .plan import COMPARISON_FOLDERS, Experiment

STAGES_KEY = "MODEL.FUSION.STAGES"
OLD_STAGES_KEY = "MODEL.GAFF.STAGES"  # still accepted by the config, so reserved as well
DEFAULT_STAGES = (2, 3)
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Method:
    """One row of a comparison: its name (the config file's stem) and its options."""

    name: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MethodConfig:
    """A method at a stage set: the ``config`` of an :class:`Experiment` of a comparison."""

    method: Method
    stages: tuple[int, ...]

    @property
    def code(self) -> str:
        label = "".join(str(s) for s in self.stages)
        return f"{self.method.name}_s{label}" if self.stages else self.method.name

    def opts(self) -> list[str]:
        """``MODEL.FUSION.STAGES`` first, then the method's own options."""
        rest = [x for key, value in self.method.options if key != STAGES_KEY for x in (key, value)]
        return [STAGES_KEY, str(list(self.stages)), *rest]

    def columns(self) -> dict:
        return {"method": self.method.name, "stages": str(list(self.stages))}


@dataclass(frozen=True)
class Comparison:
    """A comparison study: its folder, numbering, and methods in numbering order."""

    name: str
    first_number: int
    config_dir: str  # relative to the repository root; <config_dir>/<method>.yaml
    names: str  # the methods, in numbering order (never reordered: numbers stay)

    @cached_property
    def methods(self) -> tuple[Method, ...]:
        """Each method's options are the keys its config file sets (but ``OUTPUT_DIR``)."""
        methods = []
        for name in self.names.split():
            path = REPO_ROOT / self.config_dir / f"{name}.yaml"
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            options = [o for o in _flatten(data) if o[0] not in ("_BASE_", "OUTPUT_DIR")]
            methods.append(Method(name, tuple(options)))
        return tuple(methods)

    @property
    def folder(self) -> str:
        return COMPARISON_FOLDERS[self.name]

    def plan(self, stages: tuple[int, ...] = DEFAULT_STAGES) -> list[Experiment]:
        return [
            Experiment(
                number,
                # a method that fuses nothing sets MODEL.FUSION.STAGES itself (to [])
                MethodConfig(method, () if STAGES_KEY in dict(method.options) else tuple(stages)),
                phase=self.name,
                trained_in=self.name,
            )
            for number, method in enumerate(self.methods, start=self.first_number)
        ]

    def plan_keys(self) -> set[str]:
        """Keys some method sets: a free option may not override them."""
        return {STAGES_KEY, OLD_STAGES_KEY} | {key for m in self.methods for key, _ in m.options}


def _flatten(tree: dict, prefix: str = "") -> list[tuple[str, str]]:
    """``{"MODEL": {"GAFF": {"USE_SE": False}}}`` → ``[("MODEL.GAFF.USE_SE", "False")]``."""
    items = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((prefix + key, str(value)))
    return items


FUSION = Comparison(
    "fusion",
    first_number=101,
    config_dir="configs/fusion",
    names="none add concat cssa_t03 cssa_t05 cssa_t07 gaff gaff_lite gaff_tied gaff_alpha "
    "gaff_se_per_stage gaff_out256 gated gaff_guided xattn late_concat",
)
MODALITY = Comparison(
    "modality",
    first_number=201,
    config_dir="configs/fusion/modality",
    names="rgb thermal event rgb_thermal rgb_event thermal_event rgb_thermal_event",
)
COMPARISONS = {c.name: c for c in (FUSION, MODALITY)}
STUDIES = ("gaff", *COMPARISONS)
