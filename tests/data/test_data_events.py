"""Event synthesis: the simulator formula, its modes, and how neighbour frames are chosen."""

from __future__ import annotations

import numpy as np
import pytest

from projects_gaff.data import EventSynthesis, synthesize_events
from projects_gaff.data.events import event_neighbours, lin_log, sequence_position


def test_event_count_follows_log_intensity_change():
    reference = np.full((2, 3), 100, np.uint8)
    current = np.array([[100, 125, 150], [200, 400 // 2, 50]], np.uint8)
    count = synthesize_events(reference, current, EventSynthesis(threshold=0.2))
    # floor(|ln(I1/I0)| / 0.2): 0, ln1.25=0.22 -> 1, ln1.5=0.41 -> 2, ln2=0.69 -> 3, ln0.5 -> 3
    expected_events = np.array([[0, 1, 2], [3, 3, 3]])
    np.testing.assert_array_equal(count, np.minimum(expected_events * 64, 255))


def test_polarity_mode_signs_the_change_around_128():
    reference = np.full((1, 3), 100, np.uint8)
    current = np.array([[100, 150, 50]], np.uint8)
    image = synthesize_events(reference, current, EventSynthesis(mode="polarity"))
    np.testing.assert_array_equal(image, [[128, 128 + 2 * 32, 128 - 3 * 32]])


def test_lin_log_is_linear_in_the_dark_and_continuous():
    assert lin_log(np.array([0.0]))[0] == 0
    np.testing.assert_allclose(lin_log(np.array([10.0, 20.0])), [np.log(20) / 2, np.log(20)])
    # Dark-pixel noise of one grey level is far below the threshold it would be in pure log.
    assert lin_log(np.array([2.0]))[0] - lin_log(np.array([1.0]))[0] < 0.2 < np.log(2)


def test_static_scene_gives_no_events_and_sizes_must_match():
    still = np.random.default_rng(0).integers(0, 256, (5, 5)).astype(np.uint8)
    assert not synthesize_events(still, still).any()
    with pytest.raises(ValueError, match="differ in size"):
        synthesize_events(still, still[:4])


@pytest.mark.parametrize(
    "field, value", [("source", "lidar"), ("mode", "bits"), ("threshold", 0.0)]
)
def test_invalid_settings_are_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        EventSynthesis(**{field: value})


def test_sequences_come_from_folder_and_trailing_number():
    assert sequence_position("set00/V000/I00012.jpg") == ("set00/V000/I", 12)
    assert sequence_position("visible/010001.jpg") == ("visible/", 10001)
    assert sequence_position("visible/street.jpg") is None


def test_neighbour_is_previous_else_next_else_none():
    positions = [("a/", 1), ("a/", 2), ("a/", 3), ("a/", 7), ("b/", 2), None, ("b/", 4), ("b/", 5)]
    assert event_neighbours(positions) == [1, 0, 1, None, None, None, 7, 6]
