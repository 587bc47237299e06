"""Result files ``image_index,x,y,w,h,score``: round trip and every bad line named."""

from __future__ import annotations

import numpy as np
import pytest

from projects_gaff.data import DatasetError
from projects_gaff.evaluation.result_files import format_results, read_results


def test_round_trip_keeps_frames_boxes_and_scores(tmp_path):
    frames = [np.array([[1.5, 2.25, 10, 20, 0.9], [3, 4, 5, 6, 0.12345678]]), np.zeros((0, 5))]
    frames.append(np.array([[7, 8, 9, 10, 1.0]]))
    path = tmp_path / "A_result.txt"
    path.write_text(format_results(frames))
    assert path.read_text().splitlines()[0] == "1,1.5000,2.2500,10.0000,20.0000,0.90000000"
    back = read_results(path, 3)
    assert [len(f) for f in back] == [2, 0, 1]
    for got, want in zip(back, frames, strict=True):
        np.testing.assert_allclose(got, want.reshape(-1, 5))
    # Blank lines are no detections; more frames than indices are frames without detections.
    path.write_text("\n1,1,2,3,4,0.5\n\n")
    assert [len(f) for f in read_results(path, 5)] == [1, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("1,2,3,4,0.5", "has 5 fields"),
        ("1,2,3,4,5,0.5,7", "has 7 fields"),
        ("1,2,three,4,5,0.5", "not a number"),
        ("1,2,3,nan,5,0.5", "non-finite"),
        ("1,2,3,-4,5,0.5", "negative width or height"),
        ("1,2,3,4,-5,0.5", "negative width or height"),
        ("0,2,3,4,5,0.5", "image index 0, outside 1-3"),
        ("4,2,3,4,5,0.5", "image index 4, outside 1-3"),
        ("1.5,2,3,4,5,0.5", "image index 1.5"),
    ],
)
def test_bad_lines_are_errors_naming_file_line_and_fix(tmp_path, line, problem):
    path = tmp_path / "B_result.txt"
    path.write_text(f"1,1,1,10,10,0.9\n{line}\n")
    with pytest.raises(DatasetError, match=rf"B_result\.txt:2: .*{problem}.*Fix: \w+"):
        read_results(path, 3)


def test_missing_result_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="result file does not exist"):
        read_results(tmp_path / "none.txt", 3)
