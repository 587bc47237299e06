"""tools/benchmark.py runs and writes its tables (no timing assertions: the machine is shared)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIGS, REPO_ROOT

from projects_gaff.benchmark import (
    BREAKDOWN_COLUMNS,
    ROOFLINE_COLUMNS,
    TABLE_COLUMNS,
    Settings,
    run,
)

TINY = ["--size", "64", "64", "--repeats", "1", "--warmup", "1", "--infer-batch", "2"]


def _csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.slow  # trains (timed steps) in a subprocess
def test_cli_writes_table_and_roofline(tmp_path):
    out = tmp_path / "bench"
    command = [
        sys.executable, str(REPO_ROOT / "tools" / "benchmark.py"),
        "--configs", str(CONFIGS / "quick" / "baseline_nofusion.yaml"),
        str(CONFIGS / "quick" / "gaff_s23.yaml"),
        "--output", str(out), *TINY,
        "--fp32-matmul", "--matmul-size", "64",
        "--", "MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", "1",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    columns, rows = _csv(out / "benchmark.csv")
    assert columns == TABLE_COLUMNS
    assert [r["name"] for r in rows] == ["baseline_nofusion", "gaff_s23"]
    assert float(rows[0]["step_ratio"]) == 1.0
    assert all(float(r["train_img_s"]) > 0 and float(r["params_m"]) > 0 for r in rows)
    assert _csv(out / "roofline.csv")[0] == ROOFLINE_COLUMNS
    markdown = (out / "benchmark.md").read_text()
    assert "| " + " | ".join(TABLE_COLUMNS) + " |" in markdown
    assert "item 2" in markdown


def _tiny_settings(tmp_path: Path, *opts: str, **options) -> Settings:
    """The quick GAFF-s23 config on 64x64 frames, one image per step, one timed round."""
    return Settings(
        configs=[str(CONFIGS / "quick" / "gaff_s23.yaml")],
        opts=["MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", "1", *opts],
        output=tmp_path,
        **{"height": 64, "width": 64, "infer_batch": 1, "repeats": 1, "warmup": 1, **options},
    )


@pytest.mark.slow
def test_real_loader_feeds_training_and_breakdown(tmp_path, tiny_dataset):
    settings = _tiny_settings(
        tmp_path, *tiny_dataset, real_data=True, breakdown=True, breakdown_steps=1
    )
    files = run(settings)
    columns, rows = _csv(files["breakdown"])
    assert columns == BREAKDOWN_COLUMNS
    seconds = {r["component"]: float(r["seconds"]) for r in rows}
    assert {"MiT streams (fwd)", "fusion blocks (fwd)", "ROI heads (fwd)"} <= set(seconds)
    assert seconds["data loading (wait)"] > 0
    assert "item 3" in files["markdown"].read_text()
    assert (tmp_path / "profile_gaff_s23.txt").stat().st_size > 0


COMPILE_EAGER = ["MODEL.COMPILE.BACKEND", "eager"]  # graph capture only: seconds, not minutes


@pytest.mark.slow
def test_compile_both_measures_eager_then_compiled(tmp_path):
    settings = _tiny_settings(
        tmp_path, *COMPILE_EAGER, compile="both", fp32_matmul=True, matmul_size=64
    )
    files = run(settings)
    _, rows = _csv(files["csv"])
    assert [(r["name"], r["compiled"]) for r in rows] == [
        ("gaff_s23-compile", "False"),
        ("gaff_s23+compile", "True"),
    ]
    # fvcore counts the compiled encoder's flops too (it traces it eagerly).
    assert rows[0]["gflops"] == rows[1]["gflops"] != ""
    _, roofs = _csv(files["roofline"])
    assert float(roofs[1]["backbone_gflop"]) > 0


@pytest.mark.slow
def test_breakdown_refuses_compiled_models(tmp_path):
    settings = _tiny_settings(tmp_path, *COMPILE_EAGER, compile="on", breakdown=True)
    with pytest.raises(ValueError, match="--compile off"):
        run(settings)
