"""The comparison studies' plans (``--study fusion`` / ``modality``, guide §8.2): names,
folders, numbering, and each method's options against its configs/fusion/*.yaml."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ablate_cli import check_options
from conftest import CONFIGS, REPO_ROOT, make_cfg, study_options

from projects_gaff.run_files import comparison_summary
from projects_gaff.study import FUSION, MODALITY, StudyError
from projects_gaff.study.comparison import DEFAULT_STAGES
from projects_gaff.study.plan import parse_stages

ABLATE = str(REPO_ROOT / "tools" / "ablate.py")
FUSION_NAMES = [
    "exp_101_none", "exp_102_add_s23", "exp_103_concat_s23", "exp_104_cssa_t03_s23",
    "exp_105_cssa_t05_s23", "exp_106_cssa_t07_s23", "exp_107_gaff_s23", "exp_108_gaff_lite_s23",
    "exp_109_gaff_tied_s23", "exp_110_gaff_alpha_s23", "exp_111_gaff_se_per_stage_s23",
    "exp_112_gaff_out256_s23", "exp_113_gated_s23", "exp_114_gaff_guided_s23",
    "exp_115_xattn_s23", "exp_116_late_concat_s23",
]  # fmt: skip
MODALITY_NAMES = [
    "exp_201_rgb", "exp_202_thermal", "exp_203_event", "exp_204_rgb_thermal_s23",
    "exp_205_rgb_event_s23", "exp_206_thermal_event", "exp_207_rgb_thermal_event_s23",
]  # fmt: skip


def test_fusion_and_modality_plans_are_named_numbered_and_foldered():
    fusion = FUSION.plan()
    assert [e.name for e in fusion] == FUSION_NAMES
    assert str(fusion[1].runs(1)[0].folder) == "fusion_comparison/exp_102_add_s23"
    assert str(fusion[1].runs(2)[1].folder) == "fusion_comparison/exp_102_add_s23_seed1"
    assert {e.phase for e in fusion} == {"fusion"} and not any(e.reused for e in fusion)
    assert [e.name for e in MODALITY.plan()] == MODALITY_NAMES
    assert str(MODALITY.plan()[0].runs(1)[0].folder) == "modality_comparison/exp_201_rgb"
    # Other stages: same numbers, the stage label follows; unfused methods stay unfused.
    at3 = FUSION.plan((3,))
    assert [e.name for e in at3][:3] == ["exp_101_none", "exp_102_add_s3", "exp_103_concat_s3"]
    assert at3[3].config.opts() == [
        "MODEL.FUSION.STAGES", "[3]", "MODEL.FUSION.TYPE", "cssa",
        "MODEL.FUSION.CSSA.THRESHOLD", "0.3",
    ]  # fmt: skip
    assert at3[0].config.opts() == ["MODEL.FUSION.STAGES", "[]", "MODEL.FUSION.TYPE", "none"]
    assert comparison_summary(FUSION.folder) == "summary_fusion_comparison.csv"


@pytest.mark.parametrize("comparison", [FUSION, MODALITY], ids=["fusion", "modality"])
def test_each_method_is_its_config_file(comparison):
    """Base config + the plan's options == the method's config file (but OUTPUT_DIR), and
    every config file of the folder is a method of the study."""
    folder = REPO_ROOT / comparison.config_dir
    assert sorted(m.name for m in comparison.methods) == sorted(
        p.stem for p in folder.glob("*.yaml")
    )
    base = make_cfg()
    assert tuple(base.MODEL.FUSION.STAGES) == DEFAULT_STAGES
    for experiment in comparison.plan():
        from_plan = make_cfg(CONFIGS / "Base-GAFF-RCNN-FPN.yaml", *experiment.config.opts())
        from_file = make_cfg(folder / f"{experiment.config.method.name}.yaml")
        from_plan.OUTPUT_DIR = from_file.OUTPUT_DIR
        assert from_plan.dump() == from_file.dump(), experiment.name
        assert from_plan.dump() != base.dump() or experiment.config.method.name in (
            "gaff",
            "rgb_thermal_event",
        )


@pytest.mark.parametrize(
    "text, stages", [("3", (3,)), ("23", (2, 3)), ("2,3", (2, 3)), ("s234", (2, 3, 4))]
)
def test_fusion_stages_parse(text, stages):
    assert parse_stages(text) == stages


@pytest.mark.parametrize("text", ["5", "", "stage3"])
def test_bad_fusion_stages_are_refused(text):
    with pytest.raises(ValueError, match="not a set of MiT stages"):
        parse_stages(text)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"phase": "1"}, "--phase: GAFF-study options"),
        ({"top_k_from": ("s3",)}, "--top-k-from: GAFF-study options"),
        ({"opts": ("MODEL.FUSION.TYPE", "add")}, "MODEL.FUSION.TYPE is set for each run"),
        ({"opts": ("MODEL.FUSION.STAGES", "[3]")}, "MODEL.FUSION.STAGES is set for each run"),
        ({"opts": ("MODEL.GAFF.STAGES", "[3]")}, "MODEL.GAFF.STAGES is set for each run"),
        ({"only": ("exp_005",)}, "not in the fusion study"),
        ({"only": ("exp_1",)}, "--only takes exp_NNN"),
    ],
)
def test_bad_comparison_options_are_one_clear_error(tmp_path, kw, message):
    with pytest.raises(StudyError, match=message):
        check_options(study_options(tmp_path, study="fusion", **kw))
    with pytest.raises(StudyError, match="--fusion-stages is for --study fusion"):
        check_options(study_options(tmp_path, fusion_stages=(3,)))


def test_fusion_dry_run_prints_the_table_and_writes_nothing(tmp_path):
    out = tmp_path / "study"
    result = subprocess.run(
        [sys.executable, ABLATE, "--study", "fusion", "--fusion-stages", "3", "--dry-run",
         "--output-base", str(out), "--only", "exp_102,exp_107_gaff_s3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("exp_")]
    assert [r[1] for r in rows] == [n.replace("_s23", "_s3") for n in FUSION_NAMES]
    assert [r[2] for r in rows] == [m.name for m in FUSION.methods]
    add = rows[1]
    assert add[3:] == ["[3]", "pending", "train", "1", "fusion_comparison/exp_102_add_s3"]
    assert [r[1] for r in rows if "train" in r] == ["exp_102_add_s3", "exp_107_gaff_s3"]
    assert "16 summary rows, 16 unique trainings" in result.stdout
    assert not out.exists()
