"""What was written before fusion became a subsystem still works: the old stage key
MODEL.GAFF.STAGES (configs and command lines) and checkpoints holding ``gaff.`` modules."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import CONFIGS, make_cfg, on_meta
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_backbone, build_model

from projects_gaff.fusion import fusion_stages


def test_old_stage_key_in_a_config_file_and_on_the_command_line(tmp_path, caplog):
    """A config.yaml from before (no MODEL.FUSION.STAGES) keeps its stages, a command-line
    MODEL.GAFF.STAGES overrides them as it did, each with one deprecation line."""
    old = tmp_path / "config.yaml"
    old.write_text(
        f'_BASE_: "{CONFIGS / "Base-GAFF-RCNN-FPN.yaml"}"\nMODEL:\n  GAFF:\n    STAGES: [1, 4]\n'
    )
    with caplog.at_level(logging.WARNING, logger="projects_gaff.fusion.spec"), on_meta():
        backbone = build_backbone(make_cfg(old, "MODEL.DEVICE", "meta")).bottom_up
    assert sorted(backbone.fusion) == ["1", "4"]
    assert [r.getMessage() for r in caplog.records] == [
        "MODEL.GAFF.STAGES is deprecated; fusing its stages [1, 4]. Use MODEL.FUSION.STAGES"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="projects_gaff.fusion.spec"):
        assert fusion_stages(make_cfg(CONFIGS / "gaff_s23.yaml", "MODEL.GAFF.STAGES", "[3]")) == (
            3,
        )
        assert fusion_stages(make_cfg(CONFIGS / "gaff_s23.yaml", "MODEL.GAFF.STAGES", "[]")) == ()
    assert len(caplog.records) == 2
    assert fusion_stages(make_cfg(CONFIGS / "gaff_s3.yaml", "MODEL.GAFF.STAGES", "[3]")) == (3,)


def test_new_stage_key_alone_logs_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="projects_gaff.fusion.spec"):
        assert fusion_stages(make_cfg(CONFIGS / "gaff_s234.yaml")) == (2, 3, 4)
    assert caplog.records == []


@pytest.mark.parametrize(
    "opts, message",
    [
        (
            ("MODEL.GAFF.STAGES", "[3]", "MODEL.FUSION.STAGES", "[4]"),
            r"MODEL.GAFF.STAGES \[3\] and MODEL.FUSION.STAGES \[4\] disagree",
        ),
        (("MODEL.GAFF.STAGES", "[5]"), r"MODEL.GAFF.STAGES \[5\]: stage\(s\) \[5\] do not exist"),
    ],
)
def test_old_stage_key_errors_are_clear(opts, message):
    cfg = make_cfg(CONFIGS / "Base-GAFF-RCNN-FPN.yaml", "MODEL.DEVICE", "meta", *opts)
    with pytest.raises(ValueError, match=message), on_meta():
        build_backbone(cfg)


def test_checkpoints_with_gaff_modules_still_load(tmp_path):
    """A detector saved when the fusion modules were ``bottom_up.gaff.*`` loads, through
    Detectron2's checkpointer, with every weight in place."""
    cfg = make_cfg(CONFIGS / "quick" / "gaff_s23.yaml")
    torch.manual_seed(0)
    state = build_model(cfg).state_dict()
    old = {k.replace(".bottom_up.fusion.", ".bottom_up.gaff."): v for k, v in state.items()}
    assert sum(".bottom_up.gaff." in k for k in old) > 10
    torch.save({"model": old}, tmp_path / "old.pth")

    torch.manual_seed(1)
    model = build_model(cfg)
    DetectionCheckpointer(model).load(str(tmp_path / "old.pth"))
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    bottom_up = {k.split("bottom_up.", 1)[1]: v for k, v in old.items() if "bottom_up." in k}
    model.backbone.bottom_up.load_state_dict(bottom_up, strict=True)
