"""Reading one sample's modalities into the study's frame: (H, W, 5) uint8, R G B T E."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .errors import problem
from .events import DEFAULT_EVENTS, EventSynthesis, luminance, synthesize_events

# Channel names of the frame, in order; MODEL.MIT.AUX_CHANNELS names a subset of the last two.
CHANNELS = ("r", "g", "b", "thermal", "event")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
FRAME_SUFFIXES = (*IMAGE_SUFFIXES, ".npy")  # a modality may also be an (H, W) uint8 .npy

# (start, end) bytes of a complete JPEG (SOI ... EOI) and PNG (signature ... IEND chunk).
_END_MARKERS = (
    (b"\xff\xd8", b"\xff\xd9"),
    (b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"),
)


def channel_indices(aux_channels: list[str] | tuple[str, ...]) -> list[int]:
    """Frame indices of R, G, B followed by the named aux channels (model input order)."""
    unknown = [name for name in aux_channels if name not in CHANNELS[3:]]
    if unknown or len(set(aux_channels)) != len(aux_channels):
        raise ValueError(
            f"aux channels {list(aux_channels)} must be distinct names from {list(CHANNELS[3:])}"
        )
    return [0, 1, 2] + [CHANNELS.index(name) for name in aux_channels]


def npy_frame_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of a layout-1 frame, checked from its header only (no pixel read)."""
    shape = _npy_frame(path, mmap=True).shape
    return int(shape[0]), int(shape[1])


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file, from its header only."""
    path = Path(path)
    if path.suffix == ".npy":
        shape = _npy_plane(path, mmap=True).shape
        return int(shape[0]), int(shape[1])
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise problem(path, "modality file is missing", "restore it or remove the sample") from None
    except (OSError, ValueError) as err:
        raise problem(path, f"is not a readable image ({err})", "re-export the file") from None
    check_complete_image(path)
    return height, width


def check_complete_image(path: str | Path) -> None:
    """Raise a :class:`DatasetError` for an image file cut short or corrupt: OpenCV decodes a
    truncated JPEG silently (grey rows), so a JPEG or PNG must end with its end marker;
    anything else is decoded in full by PIL, which raises on truncated data."""
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(max(0, f.seek(0, os.SEEK_END) - 64))
        tail = f.read().rstrip(b"\x00")  # some writers pad after the end marker
    if any(head.startswith(start) and tail.endswith(end) for start, end in _END_MARKERS):
        return
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, ValueError, SyntaxError) as err:
        raise problem(
            path,
            f"is truncated or corrupt ({err})",
            "copy or export the file again (a partial copy ends early)",
        ) from None


def read_frame(record: dict[str, Any], events: EventSynthesis = DEFAULT_EVENTS) -> np.ndarray:
    """The (H, W, 5) uint8 frame of one dataset record, checked against its height/width."""
    if "modalities" in record:
        frame = _read_modalities(record, events)
        source = record["modalities"]["rgb"]
    else:
        source = record["file_name"]
        frame = np.asarray(_npy_frame(source, mmap=False))
    expected = (record["height"], record["width"])
    if frame.shape[:2] != expected:
        raise problem(
            source,
            f"frame is {frame.shape[0]}x{frame.shape[1]} but the dataset recorded "
            f"{expected[0]}x{expected[1]}",
            "the file changed after registration; re-register the dataset",
        )
    return frame


def _read_modalities(record: dict[str, Any], events: EventSynthesis) -> np.ndarray:
    paths = record["modalities"]
    rgb = _read_image(paths["rgb"], grey=False)
    thermal = _read_image(paths["thermal"], grey=True)
    event = _read_image(paths["event"], grey=True) if paths.get("event") else None
    read = [(paths["rgb"], rgb), (paths["thermal"], thermal), (paths.get("event"), event)]
    _same_size({path: array.shape[:2] for path, array in read if array is not None})
    if event is None:
        event = _synthesised_event(record.get("event_reference"), rgb, thermal, events)
    return np.dstack([rgb, thermal, event])


def _synthesised_event(
    reference: dict[str, str] | None,
    rgb: np.ndarray,
    thermal: np.ndarray,
    events: EventSynthesis,
) -> np.ndarray:
    if reference is None:
        return np.zeros(thermal.shape, np.uint8)
    if events.source == "rgb":
        current = luminance(rgb)
        previous = luminance(_read_image(reference["rgb"], grey=False))
    else:
        current = thermal
        previous = _read_image(reference["thermal"], grey=True)
    if previous.shape != current.shape:
        raise problem(
            reference[events.source],
            f"neighbour frame used for event synthesis is {previous.shape[:2]}, "
            f"not {current.shape[:2]}",
            "frames of one sequence must share a size; rename frames that are not consecutive",
        )
    return synthesize_events(previous, current, events)


def _read_image(path: str, grey: bool) -> np.ndarray:
    if Path(path).suffix == ".npy":
        return np.asarray(_npy_plane(path, mmap=False))
    if not Path(path).is_file():
        raise problem(path, "modality file is missing", "restore it or remove the sample")
    check_complete_image(path)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if image is None:
        raise problem(path, "cannot be decoded as an image (corrupt or unsupported)", "re-export")
    return image if grey else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _npy_plane(path: str | Path, mmap: bool) -> np.ndarray:
    """A one-channel modality stored as .npy: (H, W) or (H, W, 1) uint8."""
    plane = _load_npy(path, mmap)
    if plane.ndim == 3 and plane.shape[2] == 1:
        plane = plane[:, :, 0]
    if plane.ndim != 2 or plane.dtype != np.uint8:
        raise problem(
            path,
            f"single-modality .npy has shape {plane.shape} and dtype {plane.dtype}",
            "save it as an (H, W) uint8 array",
        )
    return plane


def _load_npy(path: str | Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise problem(path, "file is missing", "restore it or remove the sample") from None
    except (OSError, ValueError, EOFError) as err:
        raise problem(
            path, f"cannot be read as a .npy array ({err})", "re-export it with numpy.save"
        ) from None


def _npy_frame(path: str | Path, mmap: bool) -> np.ndarray:
    frame = _load_npy(path, mmap)
    if frame.ndim != 3 or frame.shape[2] != len(CHANNELS):
        raise problem(
            path,
            f"frame has shape {frame.shape}, expected (H, W, 5) with channels R, G, B, "
            "thermal, event",
            "stack the five modalities along the last axis",
        )
    if frame.dtype != np.uint8:
        raise problem(
            path,
            f"frame has dtype {frame.dtype}, expected uint8",
            "scale each channel to 0-255 and save with .astype(numpy.uint8)",
        )
    return frame


def _same_size(sizes: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """The common size of the modality files (the first is the RGB image)."""
    (rgb_path, size), *others = sizes.items()
    for path, other in others:
        if tuple(other) != tuple(size):
            raise problem(
                path,
                f"is {other[0]}x{other[1]} but the RGB image {rgb_path} is {size[0]}x{size[1]}",
                "modalities must be pixel-aligned at one size; resize them to match",
            )
    return int(size[0]), int(size[1])


def frame_record(
    index: int, key: str, files: str | Path | dict[str, str | None], **extra: Any
) -> dict[str, Any]:
    """A dataset dict, without annotations, of a .npy frame or of one file per modality
    (``{"rgb": ..., "thermal": ..., "event": ...}``); its size comes from the file headers."""
    if isinstance(files, dict):
        sizes = {path: image_size(path) for path in files.values() if path}
        (height, width), file_name, extra["modalities"] = _same_size(sizes), files["rgb"], files
    else:
        (height, width), file_name = npy_frame_size(files), str(files)
    return {
        "file_name": file_name,
        "image_id": index,
        "frame_key": key,
        "height": height,
        "width": width,
        **extra,
    }


def find_file(directory: Path, stem: str, suffixes: Iterable[str]) -> Path | None:
    """The first ``directory/<stem><suffix>`` that is a file."""
    return next((p for s in suffixes if (p := directory / (stem + s)).is_file()), None)
