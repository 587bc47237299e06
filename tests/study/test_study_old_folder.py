"""A study folder written by an earlier version still resumes and still analyses.

``fixtures/study_main_ceb7212`` was written by main at commit ceb7212 (before the runner was
split and the run-folder names moved to ``projects_gaff/run_files.py``):

    tools/ablate.py --phase 1 --only exp_001,exp_002 --config configs/quick/Base-quick.yaml \\
        --epochs 2 --output-base /tmp/gaff_fixture/study <tiny demo set, TINY_OPTS_BASE>

Both runs finished (mit_b0, 96 px frames, 8 iterations; AP 0 on that tiny set). Their
``.pth`` files were deleted to keep the fixture small: a finished run never reads them. So
"resume" means here what it means for every finished run: skipped, left untouched, and
the planned runs that are missing are trained; resuming a *partial* run from its checkpoint
is tested on a real training in test_study_e2e.py. The study was written under /tmp, so a
test first points ``study.json`` at this checkout's config file: the documented way to
move a study (``edit study.json if the change is deliberate``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIGS, REPO_ROOT
from test_study_runner import FAKE_TRAIN

from projects_gaff.atomic import read_csv
from projects_gaff.study import Study, StudyOptions

FIXTURE = Path(__file__).parent / "fixtures" / "study_main_ceb7212"
P1 = Path("phase1_stage_selection")
RUNS = ("exp_001_s1_r4_is0_mb0", "exp_002_s2_r4_is0_mb0")
QUICK = CONFIGS / "quick" / "Base-quick.yaml"


@pytest.fixture
def old_study(tmp_path) -> Path:
    base = tmp_path / "study"
    shutil.copytree(FIXTURE, base)
    return base


def move(base: Path, config_file: Path) -> list[str]:
    """Point the study's manifest at ``config_file``; return the study's recorded options."""
    manifest = json.loads((base / "study.json").read_text())
    manifest["config_file"] = str(config_file)
    (base / "study.json").write_text(json.dumps(manifest))
    return manifest["opts"]


def snapshot(base: Path) -> dict:
    """Every file of the finished runs: bytes and modification time."""
    return {
        path.relative_to(base): (path.read_bytes(), path.stat().st_mtime_ns)
        for name in RUNS
        for path in sorted((base / P1 / name).rglob("*"))
        if path.is_file()
    }


def summary(base: Path) -> dict[str, dict]:
    return {r["name"]: r for r in read_csv(base / "summary_all_experiments.csv")}


def ablate(base: Path, *args: str) -> subprocess.CompletedProcess:
    opts = move(base, QUICK)
    argv = [sys.executable, str(REPO_ROOT / "tools" / "ablate.py"), *args]
    argv += ["--config", str(QUICK), "--output-base", str(base), *opts]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_the_fixture_is_a_finished_two_run_study():
    rows = summary(FIXTURE)
    assert len(rows) == 8
    assert [n for n, r in rows.items() if r["status"] == "finished"] == list(RUNS)
    for name in RUNS:
        final = json.loads((FIXTURE / P1 / name / "final_results.json").read_text())
        assert final["test"]["AP"] == 0.0 and final["epochs"] == 2
        assert not list((FIXTURE / P1 / name).rglob("*.pth"))


def test_ablate_reruns_an_old_study_without_retraining(old_study):
    before = snapshot(old_study)
    result = ablate(old_study, "--phase", "1", "--only", "exp_001,exp_002")
    assert result.returncode == 0, result.stderr[-3000:]
    assert snapshot(old_study) == before
    log = (old_study / "master_log.txt").read_text()
    new = log.split("STUDY   end:")[1]  # what this rerun appended
    assert all(f"SKIP    {name}: finished" in new for name in RUNS)
    assert "START" not in new and "RESUME" not in new
    rows = summary(old_study)
    assert [rows[n]["status"] for n in RUNS] == ["finished", "finished"]
    assert rows["exp_002_s2_r4_is0_mb0"]["AP"] == "0.0"
    assert int(rows["exp_002_s2_r4_is0_mb0"]["params_gaff"]) > 0
    assert rows["exp_003_s3_r4_is0_mb0"]["status"] == "pending"


def test_dry_run_of_an_old_study_trains_only_what_is_missing(old_study):
    result = ablate(old_study, "--phase", "1", "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {r[1]: r for r in (line.split() for line in result.stdout.splitlines()) if r[1:]}
    assert [rows[name][4:6] for name in RUNS] == [["finished", "skip"]] * 2
    assert rows["exp_003_s3_r4_is0_mb0"][4:7] == ["pending", "train", "1"]
    assert "8 summary rows, 8 unique trainings (1 seed(s) each), 6 to train now" in result.stdout


def test_the_runner_completes_an_old_study(old_study, tmp_path, monkeypatch):
    """The missing phase-1 runs are trained (by a stand-in for train_net), the old ones not."""
    script, scores = tmp_path / "fake_train_net.py", tmp_path / "scores.json"
    script.write_text(FAKE_TRAIN)
    scores.write_text(json.dumps({"default": {"val": 30.0, "test": 30.0}}))
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls.jsonl"))
    opts = move(old_study, scores)
    before = snapshot(old_study)
    options = StudyOptions(
        output_base=old_study, config_file=scores, train_script=script, phase="1", opts=opts
    )
    assert Study(options).run() == 0
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert sorted(c["code"] for c in calls) == sorted(
        ["s3_r4_is0_mb0", "s4_r4_is0_mb0", "s23_r4_is0_mb0", "s34_r4_is0_mb0",
         "s234_r4_is0_mb0", "s1234_r4_is0_mb0"]
    )  # fmt: skip
    assert snapshot(old_study) == before
    rows = summary(old_study)
    assert {r["status"] for r in rows.values()} == {"finished"}
    assert rows["exp_001_s1_r4_is0_mb0"]["val_AP"] == "0.0"
    assert rows["exp_003_s3_r4_is0_mb0"]["val_AP"] == "30.0"


def test_analyze_reports_an_old_study(old_study):
    analyze = [sys.executable, str(REPO_ROOT / "tools" / "analyze.py")]
    result = subprocess.run(
        [*analyze, "--output-base", str(old_study)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    text = (old_study / "report.md").read_text()
    assert "Configurations finished: 2 of 8 planned" in text
    assert "| [1] s1 | 1 | 0.00 | 0.00 | 0.00 |" in text
    assert "| [2] s2 | 1 | 0.00 | 0.00 | 0.00 |" in text
    assert "- exp_003_s3_r4_is0_mb0: pending" in text
    for name in ("phase1_ap", "phase1_cost", "curves_phase1"):
        assert (old_study / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
