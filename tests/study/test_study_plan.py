"""The study plan: the guide's 8 + 24 experiments, names, folders, reuse, option checks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ablate_cli import check_options
from conftest import REPO_ROOT, study_options

from projects_gaff.study import (
    SlurmOptions,
    Study,
    StudyError,
    parse_stage_label,
    phase1_plan,
    phase2_plan,
)
from projects_gaff.study.dry_run import plan_table
from projects_gaff.study.plan import unique_runs

ABLATE = str(REPO_ROOT / "tools" / "ablate.py")
GUIDE_PHASE1 = [
    "exp_001_s1_r4_is0_mb0", "exp_002_s2_r4_is0_mb0", "exp_003_s3_r4_is0_mb0",
    "exp_004_s4_r4_is0_mb0", "exp_005_s23_r4_is0_mb0", "exp_006_s34_r4_is0_mb0",
    "exp_007_s234_r4_is0_mb0", "exp_008_s1234_r4_is0_mb0",
]  # fmt: skip
# Guide §2.3: "If top 3 configs are s3, s23, s34", exp_009 … exp_015 for stage 3.
GUIDE_S3 = [
    "exp_009_s3_r4_is0_mb1", "exp_010_s3_r4_is1_mb0", "exp_011_s3_r4_is1_mb1",
    "exp_012_s3_r8_is0_mb0", "exp_013_s3_r8_is0_mb1", "exp_014_s3_r8_is1_mb0",
    "exp_015_s3_r8_is1_mb1",
]  # fmt: skip


def test_phase1_is_the_guides_eight_stage_sets():
    plan = phase1_plan()
    assert [e.name for e in plan] == GUIDE_PHASE1
    assert [e.config.stages for e in plan] == [
        (1,), (2,), (3,), (4,), (2, 3), (3, 4), (2, 3, 4), (1, 2, 3, 4)
    ]  # fmt: skip
    assert all(
        (e.config.se_reduction, e.config.inter_shared, e.config.merge_bottleneck) == (4, 0, 0)
        for e in plan
    )
    assert str(plan[4].runs(1)[0].folder) == "phase1_stage_selection/exp_005_s23_r4_is0_mb0"


def test_phase2_top3_gives_29_trainings_and_32_rows():
    phase2 = phase2_plan(["s3", "s23", "s34"])
    assert len(phase2) == 24
    reused = [e for e in phase2 if e.reused]
    assert [e.name for e in reused] == [
        "exp_003_s3_r4_is0_mb0", "exp_005_s23_r4_is0_mb0", "exp_006_s34_r4_is0_mb0"
    ]  # fmt: skip
    assert all(str(e.runs(1)[0].folder).startswith("phase1_stage_selection/") for e in reused)
    trained = [e for e in phase2 if not e.reused]
    assert [e.name for e in trained[:7]] == GUIDE_S3
    assert [e.number for e in trained] == list(range(9, 30))
    assert str(trained[0].runs(1)[0].folder) == "phase2_hyperparameter_tuning/exp_009_s3_r4_is0_mb1"
    every = phase1_plan() + phase2
    assert len(every) == 32
    assert len(unique_runs(every, seeds=1)) == 29
    assert len({r.folder for r in unique_runs(every, seeds=3)}) == 87
    # Each stage set gets the full 2 × 2 × 2 grid.
    grid = {(e.config.se_reduction, e.config.inter_shared, e.config.merge_bottleneck)
            for e in phase2 if e.config.stages == (2, 3)}  # fmt: skip
    assert len(grid) == 8


def test_run_options_select_the_configuration():
    exp = phase2_plan(["s23"])[7]
    assert exp.name == "exp_015_s23_r8_is1_mb1"
    run = exp.runs(2)[1]
    assert run.name == "exp_015_s23_r8_is1_mb1_seed1"
    assert str(run.folder) == "phase2_hyperparameter_tuning/exp_015_s23_r8_is1_mb1_seed1"
    assert exp.config.opts() == [
        "MODEL.FUSION.STAGES", "[2, 3]", "MODEL.GAFF.SE_REDUCTION", "8",
        "MODEL.GAFF.INTER_MODE", "shared", "MODEL.GAFF.MERGE_BOTTLENECK", "True",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text, label",
    [("s23", "s23"), ("23", "s23"), ("[2, 3]", "s23"), ("exp_005", "s23"),
     ("exp_008_s1234_r4_is0_mb0", "s1234"), ("s4", "s4")],
)  # fmt: skip
def test_stage_labels_parse(text, label):
    assert parse_stage_label(text) == label


@pytest.mark.parametrize("text", ["s12", "s5", "exp_009", "stage3", ""])
def test_unknown_stage_labels_are_refused(text):
    with pytest.raises(ValueError, match="not a phase-1 stage configuration"):
        parse_stage_label(text)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"opts": ("SEED", "3")}, "SEED is set for each run by the plan"),
        ({"opts": ("MODEL.FUSION.STAGES", "[3]")}, "MODEL.FUSION.STAGES is set"),
        ({"opts": ("SOLVER.EPOCHS",)}, "KEY VALUE pairs"),
        ({"only": ("exp_3",)}, "--only takes exp_NNN"),
        ({"only": ("exp_003_s4_r4_is0_mb0",)}, "no such phase-1 experiment"),
        ({"only": ("exp_012",), "phase": "1"}, "--phase is 1"),
        ({"top_k": 9}, "--top-k must be"),
        ({"top_k_from": ("s3", "s12")}, "--top-k-from"),
        ({"gpus": ("0", "0")}, "GPU twice"),
        ({"gpus": ("0",), "launcher": "slurm"}, "SLURM jobs take --gpus-per-run"),
        (
            {"launcher": "slurm", "resources": SlurmOptions(timeout_min=1)},
            "--timeout-min 1: at least 2 on SLURM",
        ),
    ],
)
def test_bad_options_are_one_clear_error(tmp_path, kw, message):
    with pytest.raises(StudyError, match=message):
        check_options(study_options(tmp_path, **kw))


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    out = tmp_path / "study"
    result = subprocess.run(
        [sys.executable, ABLATE, "--dry-run", "--output-base", str(out),
         "--top-k-from", "s3,s23,s34"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("exp_")]
    assert len(rows) == 32
    assert [r[1] for r in rows[:8]] == GUIDE_PHASE1
    assert [r[1] for r in rows[9:16]] == GUIDE_S3
    reuse = [r for r in rows if "reuse" in r]
    assert [(r[1], r[-1]) for r in reuse] == [
        (name, f"phase1_stage_selection/{name}")
        for name in ("exp_003_s3_r4_is0_mb0", "exp_005_s23_r4_is0_mb0", "exp_006_s34_r4_is0_mb0")
    ]
    assert "32 summary rows, 29 unique trainings" in result.stdout
    assert not out.exists()


def test_dry_run_without_complete_phase1(tmp_path):
    study = Study(study_options(tmp_path))
    table = plan_table(study)
    assert len([line for line in table.splitlines() if line.startswith("exp_")]) == 8
    assert "phase 2: top-3 of phase 1 × 8 once phase 1 is complete" in table
    with pytest.raises(StudyError, match="phase 2 needs a complete phase 1"):
        plan_table(Study(study_options(tmp_path, phase="2")))
