"""``sd-gligen`` and ``sd-controlnet-seg`` on tiny random checkpoints: renders, repaint, the
grounding inputs and scheduled sampling of GLIGEN, the segmentation map of the ControlNet, and
that each conditioning reaches the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.tiny_diffusers import left_half_mask, two_region_layout

from compose.backbones import get_backbone
from compose.errors import BackboneError
from compose.layouts import Layout, Region


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _moved(layout: Layout) -> Layout:
    """The same phrases with the cube's box moved to the right edge."""
    boxes = dict(layout.boxes)
    boxes["cube#0"] = (0.6, 0.0, 1.0, 0.4)
    return layout.model_copy(update={"boxes": boxes})


# ----------------------------------------------------------------------------- sd-gligen


@pytest.fixture(scope="module")
def sd_gligen(tiny_gligen):
    return get_backbone("sd-gligen", model=str(tiny_gligen), device="cpu", dtype="fp32",
                        gligen_scheduled_sampling_beta=0.5)


def test_sd_gligen_grounding_inputs(sd_gligen):
    layout = two_region_layout()
    inputs = sd_gligen.grounding(layout, cfg=True)
    assert inputs["boxes"].shape == (2, 30, 4) and inputs["positive_embeddings"].shape == (2, 30, 32)
    order = layout.drawing_order()
    assert torch.allclose(inputs["boxes"][1, :2], torch.tensor([layout.boxes[i] for i in order]))
    assert inputs["masks"][1].tolist() == [1.0, 1.0] + [0.0] * 28
    assert inputs["masks"][0].sum() == 0  # the unconditional half is not grounded
    tokens = sd_gligen.pipe.tokenizer(["a red cube", "a blue ball"], padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = sd_gligen.pipe.text_encoder(**tokens).pooler_output
    assert torch.allclose(inputs["positive_embeddings"][1, :2], pooled, atol=1e-5)


def test_sd_gligen_scheduled_sampling_and_boxes_steer_the_image(sd_gligen):
    from diffusers.models.attention import GatedSelfAttentionDense

    gates = [m for m in sd_gligen.pipe.unet.modules() if isinstance(m, GatedSelfAttentionDense)]
    seen: list[bool] = []
    hooks = [g.register_forward_pre_hook(lambda module, args: seen.append(module.enabled)) for g in gates]
    try:
        layout = two_region_layout()
        result = sd_gligen.render([layout, _moved(layout)], seeds=[4, 4], steps=4)
    finally:
        for hook in hooks:
            hook.remove()
    per_step = len(gates)
    assert seen == ([True] * 2 * per_step + [False] * 2 * per_step) * 2  # beta 0.5 of 4 steps, 2 images
    assert all(g.enabled for g in gates)  # switched back on after the call
    a, b = _pixels(result.images[0]), _pixels(result.images[1])
    assert not np.array_equal(a, b)  # moving a box changes the image (same prompt, same seed)


def test_sd_gligen_repaint_keeps_everything_outside_the_mask(sd_gligen):
    layout = two_region_layout()
    image = sd_gligen.render([layout], seeds=[1], steps=2).images[0]
    out = sd_gligen.repaint([image], [left_half_mask()], [layout], seeds=[2], steps=2).images[0]
    assert np.array_equal(_pixels(image)[:, 16:], _pixels(out)[:, 16:])
    assert np.abs(_pixels(image)[:, :16] - _pixels(out)[:, :16]).mean() > 1.0


def test_sd_gligen_refuses_a_plain_checkpoint_and_too_many_boxes(sd_gligen, tiny_sd):
    with pytest.raises(BackboneError, match="GLIGEN") as err:
        get_backbone("sd-gligen", model=str(tiny_sd), device="cpu")
    assert err.value.code == "E406" and err.value.exit_code == 5
    crowded = Layout(canvas=(32, 32), boxes={f"dot#{i}": (0.0, 0.0, 0.1, 0.1) for i in range(31)})
    with pytest.raises(BackboneError, match="at most 30"):
        sd_gligen.render([crowded], seeds=[0], steps=1)


# ----------------------------------------------------------------------------- sd-controlnet-seg


def test_controlnet_segmentation_map_colors():
    from compose.backbones.ade20k import ADE20K_PALETTE, segmentation_color
    from compose.backbones.sd_controlnet_seg import segmentation_map

    layout = Layout(canvas=(40, 40), background="green grass",
                    boxes={"person#0": (0.0, 0.0, 0.5, 0.5), "zorblax#0": (0.25, 0.25, 0.75, 0.75)},
                    objects={"person#0": Region(phrase="a man", z=1, **{"class": "person"}),
                             "zorblax#0": Region(phrase="a zorblax", **{"class": "zorblax"})})
    image = segmentation_map(layout, (40, 40))
    assert len(ADE20K_PALETTE) == 150
    assert image.getpixel((5, 5)) == ADE20K_PALETTE["person"]
    assert image.getpixel((15, 15)) == ADE20K_PALETTE["person"]  # z=1 is drawn in front
    assert image.getpixel((25, 25)) == segmentation_color("zorblax")
    assert image.getpixel((35, 35)) == ADE20K_PALETTE["grass"]
    assert segmentation_color("dog") == ADE20K_PALETTE["animal"]


@pytest.fixture(scope="module")
def sd_controlnet_seg(tiny_controlnet):
    sd, controlnet = tiny_controlnet
    return get_backbone("sd-controlnet-seg", model=str(sd), controlnet=str(controlnet),
                        device="cpu", dtype="fp32")


def test_sd_controlnet_seg_map_steers_the_image_and_repaints(sd_controlnet_seg):
    layout = two_region_layout()
    result = sd_controlnet_seg.render([layout, _moved(layout)], seeds=[3, 3], steps=2)
    a, b = _pixels(result.images[0]), _pixels(result.images[1])
    assert a.shape == (32, 32, 3) and not np.array_equal(a, b)  # the map reaches the image
    out = sd_controlnet_seg.repaint(result.images[:1], [left_half_mask()], [layout], seeds=[5],
                                    steps=2).images[0]
    assert np.array_equal(a[:, 16:], _pixels(out)[:, 16:])
    assert np.abs(a[:, :16] - _pixels(out)[:, :16]).mean() > 1.0
