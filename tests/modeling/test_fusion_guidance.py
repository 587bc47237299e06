"""The WACV 2021 guidance: box masks at a stage's resolution, and a loss that a tiny
overfit run drives down through GuidedRCNN."""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, make_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from projects_gaff.fusion import GuidedRCNN, box_masks


def instances(size: tuple[int, int], boxes: list[list[float]]) -> Instances:
    inst = Instances(size)
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    return inst


def test_box_masks_mark_every_cell_a_box_overlaps():
    masks = box_masks(
        [
            instances((128, 128), [[10.0, 12, 60, 90]]),
            instances((128, 128), [[33.0, 41, 35, 43]]),  # smaller than a cell
            instances((128, 128), []),
        ],
        (16, 16),
        stride=8,
    )
    assert masks.shape == (3, 1, 16, 16)
    expected = torch.zeros(16, 16)
    expected[1:12, 1:8] = 1  # rows 12/8 -> 90/8, columns 10/8 -> 60/8, outwards
    torch.testing.assert_close(masks[0, 0], expected)
    assert masks[1].sum() == 1 and masks[1, 0, 5, 4] == 1
    assert masks[2].sum() == 0


@pytest.mark.slow
def test_guidance_loss_decreases_on_a_tiny_overfit_run():
    torch.manual_seed(0)
    cfg = make_cfg(
        CONFIGS / "quick" / "gaff_s23.yaml",
        "MODEL.META_ARCHITECTURE", "GuidedRCNN", "MODEL.GAFF.GUIDANCE_WEIGHT", "1.0",
        "MODEL.FUSION.STAGES", "[2]", "MODEL.FPN.OUT_CHANNELS", "32",
        "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "200", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "50",
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "MODEL.ROI_BOX_HEAD.FC_DIM", "64",
    )  # fmt: skip
    model = build_model(cfg)
    assert isinstance(model, GuidedRCNN)
    batch = [
        {"image": torch.rand(5, 64, 64) * 255, "instances": instances((64, 64), boxes)}
        for boxes in ([[8.0, 8, 30, 56]], [[34.0, 10, 60, 40]])
    ]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    history = []
    with EventStorage():
        for step in range(20):
            losses = model(batch)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            if step == 0:
                assert {"loss_cls", "loss_guidance"} <= set(losses)
                unused = [n for n, p in model.named_parameters() if p.grad is None]
                assert unused == []
            optimizer.step()
            history.append(losses["loss_guidance"].item())
    assert history[-1] < 0.8 * history[0], history
    model.eval()  # inference is plain GeneralizedRCNN
    with torch.no_grad():
        assert "instances" in model([{"image": batch[0]["image"]}])[0]
