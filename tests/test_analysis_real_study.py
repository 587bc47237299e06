"""tools/analyze.py on a study folder written by a tiny real study: tools/ablate.py trains
one phase-1 experiment (mit_b0, one epoch, CPU) and the report is read back against that
run's own files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CONFIGS, REPO_ROOT

from projects_gaff.analysis.tables import count

pytestmark = [
    pytest.mark.slow,
    # matplotlib's font-config parser calls pyparsing names that pyparsing 3.3 deprecated
    pytest.mark.filterwarnings("ignore:'\\w+' deprecated - use:DeprecationWarning"),
]

RUN = "phase1_stage_selection/exp_002_s2_r4_is0_mb0"


def test_report_of_a_tiny_real_study(tiny_dataset, tmp_path):
    base = tmp_path / "study"
    ablate = [
        sys.executable, str(REPO_ROOT / "tools" / "ablate.py"), "--phase", "1",
        "--only", "exp_002", "--config", str(CONFIGS / "quick" / "Base-quick.yaml"),
        "--output-base", str(base), "--epochs", "1", *tiny_dataset,
    ]  # fmt: skip
    trained = subprocess.run(ablate, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert trained.returncode == 0, trained.stderr[-3000:]
    analyze = [sys.executable, str(REPO_ROOT / "tools" / "analyze.py"), "--output-base", str(base)]
    result = subprocess.run(analyze, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]

    final = json.loads((base / RUN / "final_results.json").read_text())
    info = json.loads((base / RUN / "model_info.json").read_text())
    text = (base / "report.md").read_text()
    assert f"| [2] s2 | 1 | {final['test']['AP']:.2f} | {final['test']['AP50']:.2f} |" in text
    assert f"| {count(info['parameters']['gaff_total'])} |" in text
    assert "Configurations finished: 1 of 8 planned" in text
    assert "- exp_001_s1_r4_is0_mb0: pending" in text
    assert "study settings (study.json)" in text
    for name in ("phase1_ap", "phase1_cost", "curves_phase1"):
        assert (base / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    assert not (base / "phase2_heatmap.png").exists()
