"""The comparison studies as data: the fusion methods of the fusion-method table and the
modality ablations, each method one named experiment on the same base config.

A method is the Detectron2 options of its ``configs/fusion/<name>.yaml`` (or
``configs/fusion/modality/<name>.yaml``) minus ``OUTPUT_DIR``; the tests check that the two
agree. Every fusing method fuses the study's stages (``MODEL.FUSION.STAGES``, default [2, 3],
``--fusion-stages``); a method that fuses nothing (``none``, the one-stream modality rows)
carries its own ``MODEL.FUSION.STAGES []`` and its name has no stage label. Names:
``exp_<XXX>_<method>_s<stages>``, numbered from 101 (fusion) and 201 (modality) in list
order, so a method appended later never renames an existing folder.
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import COMPARISON_FOLDERS, Experiment

STAGES_KEY = "MODEL.FUSION.STAGES"
OLD_STAGES_KEY = "MODEL.GAFF.STAGES"  # still accepted by the config, so reserved as well
DEFAULT_STAGES = (2, 3)
_RGB_PLUS_ONE = (
    ("MODEL.PIXEL_MEAN", "[123.675, 116.28, 103.53, 127.5]"),
    ("MODEL.PIXEL_STD", "[58.395, 57.12, 57.375, 64.0]"),
)
_UNFUSED = ((STAGES_KEY, "[]"), ("MODEL.FUSION.TYPE", "none"))


@dataclass(frozen=True)
class Method:
    """One row of a comparison: its name (the config file's stem) and its options."""

    name: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def fuses(self) -> bool:
        """False when the method sets ``MODEL.FUSION.STAGES`` itself (to ``[]``)."""
        return STAGES_KEY not in dict(self.options)


@dataclass(frozen=True)
class MethodConfig:
    """A method at a stage set: the ``config`` of an :class:`Experiment` of a comparison."""

    method: Method
    stages: tuple[int, ...]

    @property
    def stage_label(self) -> str:
        return "s" + "".join(str(s) for s in self.stages)

    @property
    def code(self) -> str:
        return f"{self.method.name}_{self.stage_label}" if self.stages else self.method.name

    def opts(self) -> list[str]:
        """``MODEL.FUSION.STAGES`` first, then the method's own options."""
        rest = [x for key, value in self.method.options if key != STAGES_KEY for x in (key, value)]
        return [STAGES_KEY, str(list(self.stages)), *rest]

    def columns(self) -> dict:
        return {"method": self.method.name, "stages": str(list(self.stages))}


@dataclass(frozen=True)
class Comparison:
    """A comparison study: its methods, folder and numbering."""

    name: str
    first_number: int
    config_dir: str  # relative to the repository root; <config_dir>/<method>.yaml
    methods: tuple[Method, ...]

    @property
    def folder(self) -> str:
        return COMPARISON_FOLDERS[self.name]

    def plan(self, stages: tuple[int, ...] = DEFAULT_STAGES) -> list[Experiment]:
        return [
            Experiment(
                number,
                MethodConfig(method, tuple(stages) if method.fuses else ()),
                phase=self.name,
                trained_in=self.name,
            )
            for number, method in enumerate(self.methods, start=self.first_number)
        ]

    def plan_keys(self) -> set[str]:
        """Keys some method sets: a free option may not override them."""
        return {STAGES_KEY, OLD_STAGES_KEY} | {key for m in self.methods for key, _ in m.options}


FUSION = Comparison(
    name="fusion",
    first_number=101,
    config_dir="configs/fusion",
    methods=(
        Method("none", _UNFUSED),
        Method("add", (("MODEL.FUSION.TYPE", "add"),)),
        Method("concat", (("MODEL.FUSION.TYPE", "concat"),)),
        Method("cssa_t03", (("MODEL.FUSION.TYPE", "cssa"), ("MODEL.FUSION.CSSA.THRESHOLD", "0.3"))),
        Method("cssa_t05", (("MODEL.FUSION.TYPE", "cssa"), ("MODEL.FUSION.CSSA.THRESHOLD", "0.5"))),
        Method("cssa_t07", (("MODEL.FUSION.TYPE", "cssa"), ("MODEL.FUSION.CSSA.THRESHOLD", "0.7"))),
        Method("gaff", (("MODEL.FUSION.TYPE", "gaff"),)),
        Method("gaff_lite", (("MODEL.GAFF.USE_SE", "False"),)),
        Method("gaff_tied", (("MODEL.GAFF.INTER_MODE", "tied"),)),
        Method("gaff_alpha", (("MODEL.GAFF.LEARNABLE_ALPHA", "True"),)),
        Method("gaff_se_per_stage", (("MODEL.GAFF.STAGE_SE_REDUCTIONS", "[2, 4, 8, 16]"),)),
        Method("gaff_out256", (("MODEL.GAFF.OUT_CHANNELS", "256"),)),
        Method("gated", (("MODEL.FUSION.TYPE", "gated"),)),
        Method(
            "gaff_guided",
            (("MODEL.META_ARCHITECTURE", "GuidedRCNN"), ("MODEL.GAFF.GUIDANCE_WEIGHT", "0.1")),
        ),
        Method("xattn", (("MODEL.FUSION.TYPE", "xattn"),)),
        Method("late_concat", (("MODEL.FUSION.TYPE", "concat"), ("MODEL.FUSION.LATE", "True"))),
    ),
)

MODALITY = Comparison(
    name="modality",
    first_number=201,
    config_dir="configs/fusion/modality",
    methods=(
        Method("rgb", (("MODEL.MIT.UNFUSED_OUTPUT", "rgb"), *_UNFUSED)),
        Method(
            "thermal",
            (
                *_RGB_PLUS_ONE,
                ("MODEL.MIT.AUX_CHANNELS", "['thermal']"),
                ("MODEL.MIT.UNFUSED_OUTPUT", "aux"),
                *_UNFUSED,
            ),
        ),
        Method(
            "event",
            (
                *_RGB_PLUS_ONE,
                ("MODEL.MIT.AUX_CHANNELS", "['event']"),
                ("MODEL.MIT.UNFUSED_OUTPUT", "aux"),
                *_UNFUSED,
            ),
        ),
        Method("rgb_thermal", (*_RGB_PLUS_ONE, ("MODEL.MIT.AUX_CHANNELS", "['thermal']"))),
        Method("rgb_event", (*_RGB_PLUS_ONE, ("MODEL.MIT.AUX_CHANNELS", "['event']"))),
        Method(
            "thermal_event",
            (
                ("MODEL.MIT.AUX_CHANNELS", "['thermal', 'event']"),
                ("MODEL.MIT.UNFUSED_OUTPUT", "aux"),
                *_UNFUSED,
            ),
        ),
        Method("rgb_thermal_event"),
    ),
)

COMPARISONS = {c.name: c for c in (FUSION, MODALITY)}
STUDIES = ("gaff", *COMPARISONS)
