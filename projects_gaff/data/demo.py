"""The embedded demo set: small synthetic RGB + thermal + event frames where fusion matters.

Three kinds of person, in equal shares, so that no single modality finds them all: ``all``
(contrasting in RGB, warm), ``thermal`` (invisible in RGB, warm, still) and ``event`` (in RGB
like the static person-shaped decoys, ambient temperature, moving). Clutter (RGB blobs, hot
machines, leaves and birds, night frames, noise) makes each modality ambiguous on its own.
Events are synthesised from the frame before (:mod:`.events`); each frame depends only on
(seed, index).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from detectron2.structures import BoxMode

from .events import luminance, synthesize_events
from .npy_yolo import write_npy_yolo

# Bump when the rendering or file format changes: the cache folder name changes with it.
DEMO_VERSION = "v1"
DEMO_CLASSES = ["person"]
DEMO_FRAMES = 400
DEMO_SEED = 0
DEMO_SIZE = (160, 192)  # height, width
PERSON_KINDS = ("all", "thermal", "event")


def demo_dir(base: str | Path | None = None) -> Path:
    """Cache folder of the demo set under ``base`` (default ``$GAFF_DATASETS``, else the
    repository's ``datasets/``); its name carries version, seed and size."""
    if base is None:
        base = os.environ.get("GAFF_DATASETS", Path(__file__).resolve().parents[2] / "datasets")
    return Path(base) / "cache" / f"gaff_demo_{DEMO_VERSION}_seed{DEMO_SEED}_n{DEMO_FRAMES}"


def ensure_demo(base: str | Path | None = None) -> Path:
    """The demo set's folder (images/, labels/), generated unless cached; written to a
    temporary folder renamed at the end, so that no run leaves a half-written set behind."""
    target = demo_dir(base)
    if (target / "demo.json").is_file():
        return target
    if target.exists():  # not from this code (it renames complete sets only): replace it
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gaff_demo_", dir=target.parent))
    try:
        generate_demo(tmp, DEMO_SEED, DEMO_FRAMES, DEMO_SIZE)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first; its copy is identical
            if not (target / "demo.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def generate_demo(
    out_dir: str | Path,
    seed: int = DEMO_SEED,
    frames: int = DEMO_FRAMES,
    size: tuple[int, int] = DEMO_SIZE,
) -> dict[str, Any]:
    """Write ``frames`` demo frames in layout 1 under ``out_dir``; returns the description."""
    out_dir = Path(out_dir)
    kinds = dict.fromkeys(PERSON_KINDS, 0)
    for index in range(frames):
        frame, annotations, frame_kinds = render_demo_frame(seed, index, size)
        write_npy_yolo(
            out_dir / "images", out_dir / "labels", f"demo_{index:05d}", frame, annotations
        )
        for kind in frame_kinds:
            kinds[kind] += 1
    info = {
        "version": DEMO_VERSION,
        "seed": seed,
        "frames": frames,
        "size": list(size),
        "classes": DEMO_CLASSES,
        "persons_by_kind": kinds,
    }
    (out_dir / "demo.json").write_text(json.dumps(info, indent=1))
    return info


@dataclass
class _Thing:
    """One drawn object: a float mask per frame, its colours and its motion."""

    shape: str  # "person", "ellipse", "rect" or "disc"
    x: float
    y: float
    w: float
    h: float
    rgb: np.ndarray | None  # None: not visible in RGB
    temperature: float | None  # None: ambient (not visible in thermal)
    velocity: tuple[float, float] = (0.0, 0.0)
    kind: str = ""  # PERSON_KINDS entry for persons

    def mask(
        self, height: int, width: int, previous: bool
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        """The region of the frame the thing covers and its soft mask there."""
        dx, dy = self.velocity
        x, y = (self.x - dx, self.y - dy) if previous else (self.x, self.y)
        x0, y0 = max(0, int(x) - 2), max(0, int(y) - 2)
        x1, y1 = min(width, int(x + self.w) + 3), min(height, int(y + self.h) + 3)
        canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
        _draw(canvas, self.shape, x - x0, y - y0, self.w, self.h)
        return (slice(y0, y1), slice(x0, x1)), canvas.astype(np.float32) / 255


def _draw(canvas: np.ndarray, shape: str, x: float, y: float, w: float, h: float) -> None:
    """Rasterise a shape with its box top-left at (x, y); sub-pixel positions are kept."""
    shift = 4  # cv2 fixed-point bits
    scale = 1 << shift

    def pt(px: float, py: float) -> tuple[int, int]:
        return round(px * scale), round(py * scale)

    def ax(a: float, b: float) -> tuple[int, int]:
        return max(1, round(a * scale)), max(1, round(b * scale))

    aa = cv2.LINE_AA
    cx = x + w / 2
    if shape == "person":
        head = 0.13 * h
        cv2.circle(canvas, pt(cx, y + head), max(1, round(head * scale)), 255, -1, aa, shift)
        cv2.ellipse(
            canvas, pt(cx, y + 0.45 * h), ax(w / 2, 0.22 * h), 0, 0, 360, 255, -1, aa, shift
        )
        leg = max(2, round(0.22 * w))
        for side in (-1, 1):
            hip = pt(cx + side * 0.18 * w, y + 0.55 * h)
            cv2.line(canvas, hip, pt(cx + side * 0.28 * w, y + h - leg / 2), 255, leg, aa, shift)
    elif shape in ("ellipse", "disc"):
        cv2.ellipse(canvas, pt(cx, y + h / 2), ax(w / 2, h / 2), 0, 0, 360, 255, -1, aa, shift)
    else:
        cv2.rectangle(canvas, pt(x, y), pt(x + w, y + h), 255, -1, aa, shift)


def render_demo_frame(
    seed: int, index: int, size: tuple[int, int] = DEMO_SIZE
) -> tuple[np.ndarray, list[dict[str, Any]], list[str]]:
    """One demo frame (H, W, 5) uint8, its person annotations and each person's kind."""
    rng = np.random.default_rng([seed, index])
    height, width = size
    night = rng.random() < 0.3
    rgb_bg = rng.uniform(70, 170, 3).astype(np.float32) + _smooth_noise(rng, height, width, 3, 30)
    thermal_bg = np.float32(rng.uniform(50, 90)) + _smooth_noise(rng, height, width, 1, 12)[..., 0]
    things = _clutter(rng, height, width) + _persons(rng, height, width, rgb_bg)

    def render(previous: bool) -> tuple[np.ndarray, np.ndarray]:
        rgb, thermal = rgb_bg.copy(), thermal_bg.copy()
        for thing in things:
            region, m = thing.mask(height, width, previous)
            if thing.rgb is not None:
                rgb[region] += m[..., None] * (thing.rgb - rgb[region])
            if thing.temperature is not None:
                thermal[region] += m * (thing.temperature - thermal[region])
        # Night: dim and low-contrast. Both keep a floor above the event simulator's linear
        # range so dark regions do not turn sensor noise into a carpet of events.
        rgb = (20 + rgb * 0.35) if night else (25 + rgb * 0.9)
        rgb += rng.standard_normal(rgb.shape, np.float32) * (1.5 if night else 2.0)
        thermal += rng.standard_normal(thermal.shape, np.float32) * 3.0
        return np.clip(rgb, 0, 255).astype(np.uint8), np.clip(thermal, 0, 255).astype(np.uint8)

    before, _ = render(previous=True)
    rgb, thermal = render(previous=False)
    event = synthesize_events(luminance(before), luminance(rgb))
    frame = np.dstack([rgb, thermal, event])

    annotations, kinds = [], []
    for thing in things:
        if thing.kind:
            (rows, cols), m = thing.mask(height, width, previous=False)
            ys, xs = np.nonzero(m > 0.3)
            x0, y0 = cols.start + xs.min(), rows.start + ys.min()
            x1, y1 = cols.start + xs.max() + 1, rows.start + ys.max() + 1
            box = [float(v) for v in (x0, y0, x1, y1)]
            annotations.append({"bbox": box, "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0})
            kinds.append(thing.kind)
    return frame, annotations, kinds


def _smooth_noise(
    rng: np.random.Generator, height: int, width: int, channels: int, amplitude: float
) -> np.ndarray:
    """Low-frequency texture: a coarse random grid upsampled smoothly."""
    coarse = rng.uniform(-amplitude, amplitude, (5, 6, channels)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return smooth.reshape(height, width, channels)


def _motion(rng: np.random.Generator, low: float, high: float) -> tuple[float, float]:
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(low, high)
    return speed * np.cos(angle), speed * np.sin(angle)


def _place(
    rng: np.random.Generator, height: int, width: int, w: float, h: float, margin: float = 8
) -> tuple[float, float]:
    """Top-left corner keeping the box (and its previous position) inside the frame."""
    return rng.uniform(margin, width - w - margin), rng.uniform(margin, height - h - margin)


def _clutter(rng: np.random.Generator, height: int, width: int) -> list[_Thing]:
    things = []
    for _ in range(rng.integers(3, 8)):  # RGB blobs and boxes, ambient temperature
        w, h = rng.uniform(10, 50), rng.uniform(10, 50)
        shape, (x, y) = str(rng.choice(["ellipse", "rect"])), _place(rng, height, width, w, h)
        things.append(_Thing(shape, x, y, w, h, rng.uniform(0, 255, 3), None))
    for _ in range(rng.integers(1, 4)):  # hot machines and lamps: warm, never person-shaped
        h = rng.uniform(10, 30)
        w = h * rng.uniform(1.4, 3.0)
        shape, (x, y) = str(rng.choice(["ellipse", "rect"])), _place(rng, height, width, w, h)
        things.append(_Thing(shape, x, y, w, h, rng.uniform(20, 120, 3), rng.uniform(150, 230)))
    for _ in range(rng.integers(0, 3)):  # leaves and birds: small, moving
        d = rng.uniform(5, 11)
        x, y = _place(rng, height, width, d, d)
        things.append(_Thing("disc", x, y, d, d, rng.uniform(0, 255, 3), None, _motion(rng, 4, 8)))
    return things


def _decoy_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """Moderate contrast: what both decoys and event-only persons look like in RGB."""
    ratio = rng.uniform(1.4, 1.8) if rng.random() < 0.5 else rng.uniform(0.45, 0.65)
    return np.clip(background * ratio + rng.uniform(-8, 8, 3), 0, 255)


def _persons(rng: np.random.Generator, height: int, width: int, rgb_bg: np.ndarray) -> list[_Thing]:
    things: list[_Thing] = []
    boxes: list[tuple[float, float, float, float]] = []
    count = rng.choice([0, 1, 2, 3, 4], p=[0.1, 0.3, 0.3, 0.2, 0.1])
    decoys = rng.integers(1, 4)
    for slot in range(count + decoys):
        h = rng.uniform(24, 64)
        w = h * rng.uniform(0.38, 0.5)
        for _ in range(20):  # persons and decoys do not overlap much
            x, y = _place(rng, height, width, w, h)
            if all(_iou((x, y, x + w, y + h), b) < 0.15 for b in boxes):
                break
        boxes.append((x, y, x + w, y + h))
        background = rgb_bg[int(y + h / 2), int(x + w / 2)]
        if slot >= count:  # static person-shaped decoy, ambient temperature
            things.append(_Thing("person", x, y, w, h, _decoy_colour(rng, background), None))
            continue
        kind = str(rng.choice(PERSON_KINDS))
        warm = rng.uniform(150, 230)
        if kind == "all":
            colour = rng.uniform(0, 255, 3)
            colour[rng.integers(3)] = 255 if background.mean() < 120 else 0  # clearly not bg
            moving = _motion(rng, 3, 7) if rng.random() < 0.5 else (0.0, 0.0)
            things.append(_Thing("person", x, y, w, h, colour, warm, moving, kind))
        elif kind == "thermal":
            things.append(_Thing("person", x, y, w, h, None, warm, (0.0, 0.0), kind))
        else:
            colour = _decoy_colour(rng, background)
            things.append(_Thing("person", x, y, w, h, colour, None, _motion(rng, 4, 8), kind))
    return things


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
