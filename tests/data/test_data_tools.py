"""The data command-line tools, run as ``__main__`` from their files (in-process: a fresh
interpreter per call would spend seconds importing torch and Detectron2)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_tool(monkeypatch, capsys):
    def run(name: str, *args: str) -> str:
        path = REPO_ROOT / "tools" / name
        monkeypatch.setattr(sys, "argv", [str(path), *args])
        runpy.run_path(str(path), run_name="__main__")
        captured = capsys.readouterr()
        return captured.out + captured.err

    return run


def test_convert_then_summarise(tmp_path, run_tool):
    """A two-frame paired set (no event folder) -> layout 1 -> summary with channel stats."""
    root = tmp_path / "paired"
    for folder in ("visible", "infrared", "Annotations"):
        (root / folder).mkdir(parents=True)
    person = (
        "<object><name>person</name><bndbox><xmin>11</xmin><ymin>11</ymin><xmax>50</xmax>"
        "<ymax>60</ymax></bndbox></object>"
    )
    for i in (1, 2):
        cv2.imwrite(str(root / "visible" / f"{i:04d}.png"), np.full((64, 80, 3), 50 * i, np.uint8))
        cv2.imwrite(str(root / "infrared" / f"{i:04d}.png"), np.full((64, 80), 90, np.uint8))
        xml = f"<annotation>{person * (i - 1)}</annotation>"
        (root / "Annotations" / f"{i:04d}.xml").write_text(xml)
    out = tmp_path / "npy"
    log = run_tool(
        "convert_to_npy_yolo.py", "--root", str(root), "--out", str(out), "--max-size", "40"
    )
    # Not a terminal: plain progress lines, no tqdm redraws (carriage returns).
    assert "Wrote 2 frames" in log and "converting: 2/2 frames" in log and "\r" not in log
    assert np.load(out / "images" / "0002.npy").shape == (32, 40, 5)
    assert (out / "labels" / "0001.txt").read_text() == ""  # negative kept

    opts = [
        "DATASETS.GAFF.NAME",
        "conv",
        "DATASETS.GAFF.IMAGES",
        str(out / "images"),
        "DATASETS.GAFF.LABELS",
        str(out / "labels"),
    ]
    summary = json.loads(run_tool("dataset_summary.py", "--json", "--datasets", "conv_all", *opts))
    (entry,) = summary["datasets"]
    assert entry["frames"] == 2 and entry["negatives"] == 1
    assert entry["boxes_per_class"] == {"person": 1}
    assert entry["box_sizes"] == {"small": 1, "medium": 0, "large": 0}  # 20x25 px after shrinking
    assert entry["frame_sizes"] == {"40x32": 2}
    stats = summary["channel_statistics"]
    assert stats["mean"][3] == 90.0 and stats["std"][3] == 0.0  # thermal is constant
    assert stats["mean"][:3] == [75.0] * 3  # grey 50 and 100, one frame each

    table = run_tool("dataset_summary.py", "--datasets", "conv_all", "--stats-frames", "0", *opts)
    assert "conv_all" in table and "person: 1" in table and "PIXEL_MEAN" not in table
