"""Event-channel synthesis for data without an event camera.

Between two frames a pixel fires ``floor(|L_t - L_ref| / C)`` events (contrast threshold C),
the sign of the change being the polarity (ESIM, Rebecq et al. 2018; v2e, Hu et al. 2021);
``L`` is v2e's lin-log intensity, linear below 20 grey levels so that dark-pixel noise gives
no events. The reference is the previous frame of the sequence, else the next (the change
played backwards), else none: zero events, as from a static scene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EVENT_MODES = ("count", "polarity")
EVENT_SOURCES = ("rgb", "thermal")

# Grey level below which intensity is mapped linearly (v2e's lin-log threshold).
_LINLOG_KNEE = 20.0
# Grey levels per event: 4 events saturate the uint8 channel in both modes.
_COUNT_STEP = 64
_POLARITY_STEP = 32


@dataclass(frozen=True)
class EventSynthesis:
    """How to synthesise the event channel when a sample has no event file."""

    source: str = "rgb"  # modality the simulated camera sees: "rgb" (luminance) or "thermal"
    threshold: float = 0.2  # contrast threshold C in lin-log units (DVS: 0.15-0.3)
    mode: str = "count"  # "count": 64·n; "polarity": 128 ± 32·n (ON brighter, OFF darker)

    def __post_init__(self):
        if self.source not in EVENT_SOURCES:
            raise ValueError(f"event source must be one of {EVENT_SOURCES}, got {self.source!r}")
        if self.mode not in EVENT_MODES:
            raise ValueError(f"event mode must be one of {EVENT_MODES}, got {self.mode!r}")
        if not self.threshold > 0:
            raise ValueError(f"event threshold must be > 0, got {self.threshold}")

    @classmethod
    def from_config(cls, cfg) -> EventSynthesis:
        """From INPUT.GAFF.EVENT_SOURCE / EVENT_THRESHOLD / EVENT_MODE."""
        g = cfg.INPUT.GAFF
        return cls(g.EVENT_SOURCE, g.EVENT_THRESHOLD, g.EVENT_MODE)


DEFAULT_EVENTS = EventSynthesis()


def lin_log(gray: np.ndarray) -> np.ndarray:
    """v2e's lin-log intensity of a 0-255 grey image (float32)."""
    gray = gray.astype(np.float32)
    linear = gray * (np.log(_LINLOG_KNEE) / _LINLOG_KNEE)
    return np.where(gray < _LINLOG_KNEE, linear, np.log(np.maximum(gray, _LINLOG_KNEE)))


def synthesize_events(
    reference: np.ndarray, current: np.ndarray, synthesis: EventSynthesis = DEFAULT_EVENTS
) -> np.ndarray:
    """Event image (H, W) uint8 for the change from ``reference`` to ``current`` grey frames."""
    if reference.shape != current.shape:
        raise ValueError(f"frames differ in size: {reference.shape} vs {current.shape}")
    change = lin_log(current) - lin_log(reference)
    count = np.floor(np.abs(change) / synthesis.threshold)
    if synthesis.mode == "count":
        value = count * _COUNT_STEP
    else:
        value = 128 + np.sign(change) * count * _POLARITY_STEP
    return np.clip(value, 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an (H, W, 3) RGB array, float32 on 0-255."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


def sequence_position(path: str | Path) -> tuple[str, int] | None:
    """(sequence id = folder + name prefix, frame number) of a name ending in digits, e.g.
    ``V000/I00012``; None (not sequential) for a name without a trailing number."""
    path = Path(path)
    match = _TRAILING_NUMBER.match(path.stem)
    if match is None:
        return None
    return f"{path.parent}/{match.group(1)}", int(match.group(2))


def event_neighbours(positions: list[tuple[str, int] | None]) -> list[int | None]:
    """Index of each frame's reference frame: of the frames at :func:`sequence_position`
    ``positions``, the previous one of its sequence, else the next (gaps break a sequence)."""
    index = {pos: i for i, pos in enumerate(positions) if pos is not None}
    previous_next = [[(p[0], p[1] - 1), (p[0], p[1] + 1)] if p else [] for p in positions]
    return [next((index[n] for n in pair if n in index), None) for pair in previous_next]


def link_event_references(records: list[dict], sequential: bool = True) -> None:
    """Set ``event_reference`` of each record without an event file: its neighbour frame's
    ``{"rgb": path, "thermal": path}``, or None (zero events) for non-``sequential`` data."""
    positions = [
        sequence_position(record["modalities"]["rgb"]) if sequential else None for record in records
    ]
    for record, neighbour in zip(records, event_neighbours(positions), strict=True):
        if record["modalities"].get("event"):
            continue
        record["event_reference"] = (
            None
            if neighbour is None
            else {name: records[neighbour]["modalities"][name] for name in ("rgb", "thermal")}
        )
