"""Which fusion method a run outside the study's grid used (baselines, CSSA, add, concat ...).

A run folder's ``config.yaml`` is the full Detectron2 config (``MODEL.FUSION``, ``MODEL.GAFF``,
``MODEL.MIT``); ``config.json``'s study fields are the fallback. The
method decides which comparison table a run belongs to: ``none`` is the no-fusion baseline,
``rgb`` the RGB-only model, ``cssa`` the CSSA comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from .model import DEFAULT_AUX

METHOD_NAMES = {
    "none": "no fusion",
    "rgb": "RGB only",
    "cssa": "CSSA",
    "add": "add",
    "concat": "concat",
    "gated": "gated GAFF",
    "xattn": "cross-attention",
    "late_concat": "late concat",
    "gaff": "GAFF",
    "other": "other",
}


def read_yaml_config(folder: Path) -> Mapping:
    """The run's Detectron2 config as plain data, or ``{}`` when absent or unreadable."""
    try:
        data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def fusion_method(config: Mapping, settings: Mapping) -> str:
    """``none``, ``rgb``, ``cssa``, ``add``, ``concat``, ``gated``, ``xattn``, ``gaff``,
    ``late_concat`` or ``other`` (a modality ablation, an aux-only model, a per-stage mix of
    methods or another late fusion)."""
    model = config.get("MODEL", {})
    mit, gaff, fusion = model.get("MIT", {}), model.get("GAFF", {}), model.get("FUSION", {})
    stages = gaff.get("STAGES")  # the old stage key; None (or absent): MODEL.FUSION.STAGES
    if stages is None:
        stages = fusion.get("STAGES", settings.get("gaff_stages"))  # None: not recorded
    unfused = mit.get("UNFUSED_OUTPUT", settings.get("unfused_output", "sum"))
    aux = tuple(mit.get("AUX_CHANNELS", settings.get("aux_channels", DEFAULT_AUX)))
    kind = fusion.get("TYPE", settings.get("fusion_type", "gaff"))
    stage_types = fusion.get("STAGE_TYPES", settings.get("fusion_stage_types"))
    if stages == [] or kind == "none":
        if unfused == "rgb":
            return "rgb"
        return "none" if unfused == "sum" and aux == DEFAULT_AUX else "other"
    if stage_types or aux != DEFAULT_AUX:
        return "other"
    if fusion.get("LATE", settings.get("fusion_late", False)):
        kind = f"late_{kind}"
    return kind if kind in METHOD_NAMES else "other"
