"""Figures of captured attention (:func:`projects_gaff.fusion.capture_attention`): channel
weights as bars, spatial maps over the RGB and thermal images (Figure API: no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from ..fusion.capture import AttentionMaps
from ..mit import STAGE_STRIDES

TITLES = {
    "se_rgb": "RGB SE weights",
    "se_aux": "aux SE weights",
    "eca_rgb": "RGB ECA scores",
    "eca_aux": "aux ECA scores",
    "rgb<-aux": "gate w rgb←aux",
    "aux<-rgb": "gate w aux←rgb",
    "gate": "fusion gate",
    "spatial": "CSSA spatial attention",
}


def channel_weights_figure(
    maps: AttentionMaps, path: str | Path, threshold: float | None = None
) -> Path | None:
    """One bar chart per stage and (B, C) entry, of the first image; None if there is none.
    ``threshold`` (CSSA's) is drawn on ECA scores: channels below it are switched."""
    rows = {
        stage: charts
        for stage, entries in sorted(maps.items())
        if (charts := [(k, v[0].float().cpu().numpy()) for k, v in entries.items() if v.dim() == 2])
    }
    if not rows:
        return None
    n_cols = max(map(len, rows.values()))
    fig = Figure(figsize=(6 * n_cols, 2.6 * len(rows)), layout="tight")
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax_row, (stage, charts) in zip(axes, rows.items(), strict=True):
        for ax, (name, weights) in zip(ax_row, charts, strict=False):
            ax.set_visible(True)
            ax.bar(np.arange(len(weights)), weights, width=1.0, color="tab:blue")
            if threshold is not None and name.startswith("eca"):
                ax.axhline(threshold, color="tab:red", lw=1, label=f"switch below {threshold}")
                ax.legend(loc="upper right", fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_xlim(-0.5, len(weights) - 0.5)
            ax.set_title(f"stage {stage}: {TITLES[name]} (mean {weights.mean():.2f})", fontsize=10)
            ax.set_xlabel("channel")
            ax.set_ylabel("weight")
    return _save(fig, path)


def _to_frame(
    spatial: torch.Tensor, stride: int, input_size: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """A (C, h, w) map at ``stride`` on the padded input -> channel mean at the frame's size."""
    h, w = spatial.shape[-2:]
    up = F.interpolate(
        spatial.float().mean(0)[None, None], size=(h * stride, w * stride), mode="bilinear"
    )
    cropped = up[..., : input_size[0], : input_size[1]]
    return F.interpolate(cropped, size=size, mode="bilinear")[0, 0].cpu().numpy()


def attention_overlay_figures(
    maps: AttentionMaps,
    frame: np.ndarray,
    input_size: tuple[int, int],
    output_dir: str | Path,
) -> list[Path]:
    """``attention_stage{s}.png`` per stage: each spatial map (first image, mean over
    channels) over the RGB image and over the thermal image of the (H, W, 5) ``frame``.
    ``input_size`` is the (H', W') the model saw after resizing, before padding."""
    rgb, thermal = frame[:, :, :3], frame[:, :, 3]
    paths = []
    for stage, entries in sorted(maps.items()):
        spatial = {k: v[0] for k, v in entries.items() if v.dim() == 4}
        if not spatial:
            continue
        height = 3.6 * len(spatial) * frame.shape[0] / frame.shape[1]
        fig = Figure(figsize=(10, height), layout="tight")
        axes = fig.subplots(len(spatial), 2, squeeze=False)
        for row, (name, value) in enumerate(spatial.items()):
            heat = _to_frame(value, STAGE_STRIDES[stage - 1], input_size, frame.shape[:2])
            for col, (base, label) in enumerate(((rgb, "RGB"), (thermal, "thermal"))):
                ax = axes[row, col]
                ax.imshow(base, cmap=None if base.ndim == 3 else "gray")
                image = ax.imshow(heat, cmap="jet", alpha=0.45)
                fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
                mean = f" (mean of {value.shape[0]} ch)" if value.shape[0] > 1 else ""
                ax.set_title(f"stage {stage}: {TITLES[name]}{mean} on {label}", fontsize=9)
                ax.axis("off")
        paths.append(_save(fig, Path(output_dir) / f"attention_stage{stage}.png"))
    return paths


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
