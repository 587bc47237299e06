"""The MR⁻² core on hand-made frames with known answers (datasets/README.md, "Pedestrian
benchmarks", has the protocol)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from projects_gaff.evaluation import SETTINGS, FrameTruth, evaluate_miss_rate, summarize
from projects_gaff.evaluation.miss_rate import (
    FALSE_POSITIVE,
    IGNORED,
    REFERENCE_FPPI,
    TRUE_POSITIVE,
    candidate_pairs,
    curve,
    flatten_truth,
    kept_truth,
    log_average_miss_rate,
    match,
)

W, H = 640, 512
REASONABLE = {"reasonable": SETTINGS["reasonable"]}


def frame(*boxes: tuple, width: int = W, height: int = H) -> FrameTruth:
    """Boxes as (x, y, w, h[, occlusion[, ignore]]); height = h."""
    rows = [(*b, 0, 0)[:6] for b in boxes]
    array = np.asarray(rows, float).reshape(-1, 6)
    return FrameTruth(
        array[:, :4], array[:, 3], array[:, 4].astype(int), array[:, 5] > 0, width, height
    )


def labels_of(truth: FrameTruth, detections: list[tuple], setting: str = "reasonable"):
    dets = np.asarray(detections, float).reshape(-1, 5)
    flat, _, candidates = candidate_pairs([truth], [dets])
    kept = kept_truth(flatten_truth([truth]), SETTINGS[setting])
    return flat[:, 4].tolist(), match(candidates, kept, len(flat)).tolist()


def one_subset(truths, detections, settings=REASONABLE):
    return evaluate_miss_rate(truths, detections, {"all": np.ones(len(truths), bool)}, settings)


def test_detection_inside_an_ignore_region_is_absorbed_by_intersection_over_its_own_area():
    truth = frame((100, 100, 40, 100), (300, 100, 100, 100, 0, 1))
    # The small box has IoU 0.32 with the region but lies wholly inside it.
    scores, labels = labels_of(truth, [(310, 110, 40, 80, 0.9), (100, 100, 40, 100, 0.8)])
    assert scores == [0.9, 0.8] and labels == [IGNORED, TRUE_POSITIVE]
    # The same box next to a person (not a region) needs IoU 0.5: a false positive.
    scores, labels = labels_of(frame((300, 100, 100, 100)), [(310, 110, 40, 80, 0.9)])
    assert labels == [FALSE_POSITIVE]
    # Regions absorb any number of detections.
    _, labels = labels_of(truth, [(310, 110, 40, 80, 0.9), (320, 120, 40, 80, 0.85)])
    assert labels == [IGNORED, IGNORED]


def test_boxes_crossing_the_border_region_become_ignore_regions():
    inside = [(5, 100, 40, 100), (595, 100, 40, 100), (300, 5, 40, 100), (300, 407, 40, 100)]
    crossing = [(4, 100, 40, 100), (596, 100, 40, 100), (300, 4, 40, 100), (300, 408, 40, 100)]
    for box in inside:
        assert kept_truth(flatten_truth([frame(box)]), SETTINGS["reasonable"]).tolist() == [True]
    for box in crossing:
        assert kept_truth(flatten_truth([frame(box)]), SETTINGS["reasonable"]).tolist() == [False]
        _, labels = labels_of(frame(box), [(*box, 0.9)])
        assert labels == [IGNORED]
    # The border follows the frame's own size.
    small = frame((590, 100, 40, 100), width=700)
    assert kept_truth(flatten_truth([small]), SETTINGS["reasonable"]).tolist() == [True]


def test_height_and_occlusion_filters_make_ignore_regions_and_detections_are_not_filtered():
    truth = frame((100, 100, 25, 54), (300, 100, 25, 55), (400, 100, 40, 100, 2))
    assert kept_truth(flatten_truth([truth]), SETTINGS["reasonable"]).tolist() == [
        False,
        True,
        False,
    ]
    assert kept_truth(flatten_truth([truth]), SETTINGS["occ_heavy"]).tolist() == [
        False,
        False,
        True,
    ]
    assert kept_truth(flatten_truth([truth]), SETTINGS["all"]).tolist() == [True, True, True]
    dets = [(100, 100, 25, 54, 0.9), (300, 100, 25, 55, 0.8), (500, 300, 10, 20, 0.7)]
    _, labels = labels_of(truth, dets)
    # A 54 px person is ignored, not missed; a 20 px box on nothing is a false positive
    # (KAIST's evaluation does not drop detections by height).
    assert labels == [IGNORED, TRUE_POSITIVE, FALSE_POSITIVE]


def test_greedy_matching_by_score_and_iou_and_duplicates_are_false_positives():
    truth = frame((100, 100, 40, 100), (130, 100, 40, 100))
    dets = [(125, 100, 40, 100, 0.9), (100, 100, 40, 100, 0.8), (101, 100, 40, 100, 0.7)]
    _, labels = labels_of(truth, dets)
    # The best detection takes the box it overlaps most (the second), the next one the
    # first, and the third finds both taken.
    assert labels == [TRUE_POSITIVE, TRUE_POSITIVE, FALSE_POSITIVE]


def test_frame_without_boxes_counts_in_fppi_and_its_detections_are_false_positives():
    truths = [frame((100, 100, 40, 100), (300, 100, 40, 100)), frame(), frame(), frame()]
    dets = [[(100, 100, 40, 100, 0.9)], [(10, 10, 40, 100, 0.5)], [], []]
    result = one_subset(truths, dets)["reasonable"]["all"]
    assert result.frames == 4 and result.persons == 2
    np.testing.assert_allclose(result.fppi, [0.0, 0.25])
    np.testing.assert_allclose(result.miss_rate, [0.5, 0.5])
    assert result.log_average == pytest.approx(0.5)
    assert result.recall == pytest.approx(0.5)


def test_reference_points_are_read_before_the_first_false_positive():
    truth = frame(*[(60 * i + 20, 100, 40, 100) for i in range(4)])
    dets = [(20, 100, 40, 100, 0.9), (80, 100, 40, 100, 0.8), (400, 300, 40, 100, 0.7)]
    dets.append((200, 100, 40, 100, 0.6))
    truths = [truth] + [frame() for _ in range(9)]  # 10 frames: one FP is FPPI 0.1
    result = one_subset(truths, [dets] + [[]] * 9)["reasonable"]["all"]
    np.testing.assert_allclose(result.fppi, [0, 0, 0.1, 0.1])
    # References below 0.1 read the last point before the false positive (miss 0.5), the
    # five from 0.1 up the last one (miss 0.25).
    assert result.log_average == pytest.approx(2 ** (-14 / 9))


def test_reference_point_before_any_operating_point_reads_miss_rate_one():
    truth = frame((100, 100, 40, 100), (300, 100, 40, 100))
    dets = [(400, 300, 40, 100, 0.9), (100, 100, 40, 100, 0.8)]
    result = one_subset([truth], [dets])["reasonable"]["all"]
    np.testing.assert_allclose(result.fppi, [1.0, 1.0])
    # Eight references lie below FPPI 1: nothing detected there yet (miss 1).
    assert result.log_average == pytest.approx(0.5 ** (1 / 9))
    assert log_average_miss_rate(np.zeros(0), np.zeros(0)) == 1.0


def test_curve_ignores_absorbed_detections_and_sorts_by_score():
    scores = np.array([0.2, 0.9, 0.5])
    labels = np.array([TRUE_POSITIVE, IGNORED, FALSE_POSITIVE])
    result = curve(scores, labels, persons=1, frames=2)
    np.testing.assert_allclose(result.fppi, [0.5, 0.5])
    np.testing.assert_allclose(result.miss_rate, [1.0, 0.0])


def test_subsets_without_frames_or_persons_are_none_and_metrics_are_percent():
    truths = [frame((100, 100, 40, 100)), frame()]
    subsets = {"all": np.array([True, True]), "day": np.array([True, False])}
    subsets["night"] = np.array([False, True])  # a frame, but no person
    results = evaluate_miss_rate(truths, [[(100, 100, 40, 100, 0.9)], []], subsets)
    metrics = summarize(results)
    assert metrics["MR_reasonable_all"] == 0.0 and metrics["recall_reasonable_all"] == 100.0
    assert metrics["MR_reasonable_night"] is None
    empty = evaluate_miss_rate(truths, [[], []], {"day": np.array([False, False])}, REASONABLE)
    assert empty["reasonable"]["day"] is None
    assert set(metrics) == {
        f"{kind}{s}_{sub}"
        for kind in ("MR_", "recall_")
        for s in SETTINGS
        for sub in ("all", "day", "night")
    }


def test_at_most_1000_detections_per_frame_by_score():
    truth = frame((100, 100, 40, 100))
    noise = [(300, 300, 40, 100, 0.9)] * 1000
    result = one_subset([truth], [[*noise, (100, 100, 40, 100, 0.5)]])["reasonable"]["all"]
    assert len(result.fppi) == 1000 and result.recall == 0.0
    result = one_subset([truth], [[(100, 100, 40, 100, 0.95), *noise]])["reasonable"]["all"]
    assert result.recall == 1.0


def test_reference_points_are_the_nine_rounded_powers():
    np.testing.assert_allclose(REFERENCE_FPPI, np.logspace(-2, 0, 9), atol=5e-5)
    assert math.isclose(REFERENCE_FPPI[1], 0.0178)
