"""The run folder is protected and the console stays readable: a run that fails, or one
with another config, leaves a finished folder byte for byte as it was; config and data
errors print one ``error:`` line (traceback and environment in training.log); result files
respect the umask; silent misconfigurations are warned about."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import QUICK, REPO_ROOT, TINY_OPTS_BASE, make_cfg, train_net

from projects_gaff.atomic import atomic_write_json
from projects_gaff.engine.setup import (
    RunFolderError,
    check_run_folder,
    config_differences,
    setting_warnings,
)


def _tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with the hash of its bytes (and its mode)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        + oct(p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _finished_folder(tmp_path: Path, *opts: str) -> Path:
    """A folder as a finished run leaves it, as far as the check looks: config + results."""
    cfg = make_cfg(QUICK, "OUTPUT_DIR", str(tmp_path / "run"), *opts)
    out = Path(cfg.OUTPUT_DIR)
    out.mkdir()
    (out / "config.yaml").write_text(cfg.dump())
    (out / "final_results.json").write_text("{}")
    return out


# ---- fast: the rules, in-process --------------------------------------------------------
def test_new_or_resultless_folder_is_free(tmp_path):
    cfg = make_cfg(QUICK, "OUTPUT_DIR", str(tmp_path / "new"))
    assert check_run_folder(cfg) == []
    Path(cfg.OUTPUT_DIR).mkdir()
    (Path(cfg.OUTPUT_DIR) / "config.yaml").write_text("MODEL: {}\n")  # failed before training
    assert check_run_folder(cfg) == []


def test_other_config_is_refused_unless_told(tmp_path):
    out = _finished_folder(tmp_path)
    same = make_cfg(QUICK, "OUTPUT_DIR", str(out))
    assert check_run_folder(same) == []  # rerunning the same experiment is allowed
    other = make_cfg(QUICK, "OUTPUT_DIR", str(out), "MODEL.FUSION.STAGES", "[4]")
    with pytest.raises(RunFolderError, match=r"STAGES: \[2, 3\] -> \[4\].*--overwrite"):
        check_run_folder(other)
    expected = ["MODEL.FUSION.STAGES: [2, 3] -> [4]"]
    assert check_run_folder(other, resume=True) == expected
    assert check_run_folder(other, overwrite=True) == expected
    assert check_run_folder(other, eval_only=True) == expected
    with pytest.raises(ValueError, match="give one of them"):
        check_run_folder(other, resume=True, overwrite=True)


def test_results_without_a_config_count_as_another_run(tmp_path):
    out = _finished_folder(tmp_path)
    (out / "config.yaml").unlink()
    with pytest.raises(RunFolderError, match=r"config\.yaml is missing"):
        check_run_folder(make_cfg(QUICK, "OUTPUT_DIR", str(out)))


def test_differences_ignore_the_location_and_keys_of_other_code_versions():
    old = {"OUTPUT_DIR": "a", "MODEL": {"X": 1, "OLD_KEY": 2}, "SEED": 0}
    new = {"OUTPUT_DIR": "b", "MODEL": {"X": 1, "NEW_KEY": 3}, "SEED": 1}
    assert config_differences(old, new) == ["SEED: 0 -> 1"]


def test_result_files_respect_the_umask(tmp_path):
    script = (
        "import os, sys; os.umask(int(sys.argv[2], 8));"
        "from projects_gaff.atomic import atomic_write_json;"
        "atomic_write_json(sys.argv[1], {'a': 1})"
    )
    for umask, mode in (("022", 0o644), ("002", 0o664), ("077", 0o600)):
        path = tmp_path / f"r{umask}.json"
        subprocess.run([sys.executable, "-c", script, str(path), umask], check=True)
        assert stat.S_IMODE(path.stat().st_mode) == mode, umask
    atomic_write_json(tmp_path / "here.json", {})  # this process: 0o666 minus its umask
    current = os.umask(0)
    os.umask(current)
    assert stat.S_IMODE((tmp_path / "here.json").stat().st_mode) == 0o666 & ~current


def test_settings_that_do_not_do_what_they_seem_are_warned_about():
    warmup = make_cfg(QUICK, "SOLVER.MAX_ITER", "10", "SOLVER.WARMUP_ITERS", "10")
    assert any("never reaches SOLVER.BASE_LR" in w for w in setting_warnings(warmup))
    fine = make_cfg(QUICK, "SOLVER.MAX_ITER", "100", "SOLVER.WARMUP_ITERS", "10",
                    "SOLVER.AMP.ENABLED", "False")  # fmt: skip
    assert setting_warnings(fine) == []
    amp_on_cpu = make_cfg(QUICK, "SOLVER.MAX_ITER", "100", "SOLVER.AMP.ENABLED", "True")
    assert any("trains in float32" in w for w in setting_warnings(amp_on_cpu))
    from projects_gaff.engine import study_fields

    assert study_fields(amp_on_cpu)["amp"] is None  # what ran, not what was asked for


@pytest.mark.slow
def test_tools_start_without_known_harmless_warnings():
    """`--help` of a tool that imports Detectron2 prints the usage and nothing else."""
    for tool in ("train_net.py", "predict.py", "dataset_summary.py"):
        result = subprocess.run(
            [sys.executable, str(REPO_ROOT / "tools" / tool), "--help"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", (tool, result.stderr)
        assert result.stdout.startswith("usage:")


# ---- slow: through tools/train_net.py ---------------------------------------------------
def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.slow
def test_failing_or_foreign_runs_leave_a_finished_folder_byte_identical(tiny_dataset, tmp_path):
    from projects_gaff.engine import setup_cfg

    base = ["--config-file", QUICK, *tiny_dataset, "SOLVER.EPOCHS", "2"]
    out = tmp_path / "finished"
    # The files of a finished run (their content is irrelevant to the rule, the config is
    # exactly what train_net writes for these options).
    (out / "checkpoints").mkdir(parents=True)
    cfg = setup_cfg(QUICK, [*base[2:], "OUTPUT_DIR", str(out)])
    (out / "config.yaml").write_text(cfg.dump())
    for name in ("config.json", "splits.json", "final_results.json", "training.log",
                 "metrics_per_batch.csv", "checkpoints/model_final.pth"):  # fmt: skip
        (out / name).write_text(f"{name} of the finished run\n")
    before = _tree(out)
    base += ["OUTPUT_DIR", str(out)]
    foreign = tmp_path / "foreign.pth"
    import torch

    torch.save({"model": {"unrelated.weight": torch.zeros(2)}}, foreign)
    # Another config, not told: refused before anything is written.
    refused = _one_error_line(train_net(*base, "MODEL.FUSION.STAGES", "[4]"))
    assert "holds another run" in refused and "MODEL.FUSION.STAGES" in refused
    assert _tree(out) == before
    # Told to overwrite, but invalid: validated before anything is written.
    cases = {
        "MODEL.FUSION.STAGES [5]": "STAGES",
        "MODEL.GAFF.SE_REDUCTION 0": "SE reduction 0",
        f"MODEL.MIT.WEIGHTS {tmp_path / 'missing.pth'}": "do not exist",
        f"MODEL.MIT.WEIGHTS {foreign}": str(foreign),
    }
    for option, expected in cases.items():
        key, value = option.split(" ")
        message = _one_error_line(train_net("--overwrite", *base, key, value))
        assert expected in message, message
        assert _tree(out) == before, option


@pytest.mark.slow
def test_config_error_in_a_new_folder_logs_the_traceback_there(tiny_dataset, tmp_path):
    out = tmp_path / "new"
    result = train_net(
        "--config-file", QUICK, *tiny_dataset, "MODEL.FUSION.STAGES", "[5]", "OUTPUT_DIR", str(out)
    )
    assert "STAGES" in _one_error_line(result)
    log = (out / "training.log").read_text()
    assert "Traceback (most recent call last)" in log and "Environment:" in log
    assert "detectron2._C (Detectron2's compiled operators) is not built" in log
    assert sorted(p.name for p in out.iterdir()) == ["training.log"]


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.slow
def test_truncated_jpeg_in_the_paired_layout_stops_train_net(tmp_path):
    root = tmp_path / "pairs"
    for folder in ("visible", "infrared", "Annotations"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(8):
        cv2.imwrite(str(root / "visible" / f"{n:06d}.jpg"), _noise(rng, (96, 128, 3)))
        cv2.imwrite(str(root / "infrared" / f"{n:06d}.jpg"), _noise(rng, (96, 128)))
        (root / "Annotations" / f"{n:06d}.xml").write_text(
            "<annotation><size><width>128</width><height>96</height></size><object><name>person</name><bndbox><xmin>10</xmin><ymin>10</ymin>"
            "<xmax>40</xmax><ymax>60</ymax></bndbox></object></annotation>"
        )
    victim = root / "visible" / "000003.jpg"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    data = [
        "DATASETS.GAFF.NAME", "pairs", "DATASETS.GAFF.LAYOUT", "paired",
        "DATASETS.GAFF.ROOT", str(root), "DATASETS.GAFF.CLASSES", "['person']",
        "DATASETS.GAFF.SPLIT_FRACTIONS", "[0.5, 0.25, 0.25]",
        "DATASETS.TRAIN", "('pairs_train',)", "DATASETS.VAL", "('pairs_val',)",
        "DATASETS.TEST", "('pairs_test',)", *TINY_OPTS_BASE,
    ]  # fmt: skip
    out = tmp_path / "run"
    message = _one_error_line(train_net("--config-file", QUICK, *data, "OUTPUT_DIR", str(out)))
    assert str(victim) in message and "truncated" in message
    assert not (out / "config.yaml").exists()
