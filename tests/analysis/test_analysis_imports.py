"""The analysis reads the run-folder contract (projects_gaff.run_files) and the plan, not
the runner: importing it must not pull in the runner's dependencies (submitit, tqdm)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO_ROOT

FORBIDDEN = ("submitit", "tqdm", "projects_gaff.study.runner", "projects_gaff.study.executors")


def test_importing_the_analysis_loads_no_runner_dependencies():
    code = (
        "import json, sys; import projects_gaff.analysis, projects_gaff.study.plan; "
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == []
