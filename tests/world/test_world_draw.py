"""The embedded world's procedural renderer, dataset generator and procedural backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from compose.layouts import Layout, Region
from compose.vocabulary import BACKGROUNDS, COLORS, SHAPES, phrase_to_object
from compose.world.dataset import mask_to_rle, random_layout, rle_to_mask, write_dataset
from compose.world.draw import render_layout


def one(shape, color, box=(0.2, 0.2, 0.8, 0.8), z=0, name=None):
    name = name or f"{shape}#0"
    return name, box, Region(phrase=f"a {color} {shape}", attributes={"color": color}, z=z, **{"class": shape})


def layout_of(*items, size=64, background="sky"):
    return Layout(canvas=(size, size), boxes={n: b for n, b, _ in items}, objects={n: r for n, _, r in items},
                  background=background, seed=1)


@pytest.mark.parametrize("shape", SHAPES)
def test_colors_are_exact_at_the_centre_of_every_shape(shape):
    for color in ("red", "white", "gray", "black"):
        scene = render_layout(layout_of(one(shape, color)))
        assert scene.image.getpixel((32, 32)) == COLORS[color]


def test_background_tones_stay_far_from_every_object_color():
    for tone in BACKGROUNDS.values():
        assert min(np.linalg.norm(np.subtract(tone, c)) for c in COLORS.values()) >= 80


def test_edges_are_anti_aliased():
    scene = render_layout(layout_of(one("circle", "red")))
    pixels = np.asarray(scene.image).reshape(-1, 3).astype(int)
    red = np.all(pixels == COLORS["red"], axis=1)
    # background pixels vary gently with the texture; blends sit between red and the tone
    blends = (~red) & (np.abs(pixels - np.array(COLORS["red"])).sum(1) > 30) & (pixels[:, 0] > 175) & (pixels[:, 0] < 215)
    assert blends.sum() >= 20


def test_z_order_puts_the_higher_z_in_front_and_masks_follow():
    a = one("square", "red", (0.1, 0.1, 0.6, 0.6), z=1, name="a#0")
    b = one("square", "blue", (0.4, 0.4, 0.9, 0.9), z=0, name="b#0")
    scene = render_layout(layout_of(a, b))
    assert scene.image.getpixel((32, 32)) == COLORS["red"]
    assert scene.masks["a#0"][32, 32] and not scene.masks["b#0"][32, 32]
    a = one("square", "red", (0.1, 0.1, 0.6, 0.6), z=0, name="a#0")
    b = one("square", "blue", (0.4, 0.4, 0.9, 0.9), z=1, name="b#0")
    assert render_layout(layout_of(a, b)).image.getpixel((32, 32)) == COLORS["blue"]


def test_inside_object_is_drawn_over_its_container():
    outer = one("circle", "green", (0.1, 0.1, 0.9, 0.9), z=0, name="outer#0")
    inner = one("star", "yellow", (0.35, 0.35, 0.65, 0.65), z=1, name="inner#0")
    scene = render_layout(layout_of(outer, inner))
    assert scene.image.getpixel((32, 32)) == COLORS["yellow"]
    assert scene.image.getpixel((32, 12)) == COLORS["green"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_visible_masks_are_disjoint_and_match_the_pixels(seed):
    lay = random_layout(seed)
    scene = render_layout(lay)
    pixels = np.asarray(scene.image)
    total = np.zeros((64, 64), dtype=int)
    for obj in scene.objects:
        mask = scene.masks[obj.instance]
        total += mask
        full = scene.coverage[obj.instance] == 1.0
        assert (pixels[full] == COLORS[obj.color]).all()
        assert full.sum() <= mask.sum() and (mask >= full).all()
    assert total.max() <= 1


def test_same_seed_same_image_and_phrases_map_to_objects():
    lay = random_layout(42)
    assert render_layout(lay).image.tobytes() == render_layout(random_layout(42)).image.tobytes()
    assert phrase_to_object("a pink star") == ("star", "pink")


def test_rle_round_trip_on_real_masks():
    scene = render_layout(random_layout(9, objects=(5, 5)))
    for mask in scene.masks.values():
        assert (rle_to_mask(mask_to_rle(mask)) == mask).all()


def test_dataset_is_reproducible_and_annotations_match_pixels(tmp_path):
    write_dataset(tmp_path / "a", 6, seed=3, sampler="boxes")
    write_dataset(tmp_path / "b", 6, seed=3, sampler="boxes")
    for rel in ["annotations.json", *[f"images/{i:06d}.png" for i in range(6)]]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    coco = json.loads((tmp_path / "a" / "annotations.json").read_text())
    assert {c["name"] for c in coco["categories"]} == set(SHAPES)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    images = {im["id"]: np.asarray(Image.open(tmp_path / "a" / im["file_name"])) for im in coco["images"]}
    assert len(coco["annotations"]) >= 6
    for ann in coco["annotations"]:
        mask = rle_to_mask(ann["segmentation"])
        assert ann["area"] == int(mask.sum())
        core = ndimage.binary_erosion(mask, structure=np.ones((3, 3)))
        exact = (images[ann["image_id"]][core] == COLORS[ann["color"]]).all(-1)
        assert exact.mean() >= 0.9 if core.any() else True  # concave corners and slivers blend
        ys, xs = np.nonzero(mask)
        if len(xs):
            x, y, w, h = ann["bbox"]
            assert x - 1 <= xs.min() and xs.max() <= x + w + 1 and y - 1 <= ys.min() and ys.max() <= y + h + 1
        assert names[ann["category_id"]] in ann["instance"]
    different = tmp_path / "c"
    write_dataset(different, 2, seed=4, sampler="boxes")
    assert (different / "images/000000.png").read_bytes() != (tmp_path / "a/images/000000.png").read_bytes()


def test_dataset_command(tmp_path):
    from compose.cli.main import main

    assert main(["world", "dataset", "--n", "2", "-o", str(tmp_path), "--sampler", "boxes"]) == 0
    assert len(list((tmp_path / "images").glob("*.png"))) == 2
    assert main(["world", "dataset", "--n", "0", "-o", str(tmp_path)]) == 2


def test_procedural_backbone_renders_and_repaints_only_the_mask():
    from compose.backbones.base import get_backbone

    backbone = get_backbone("procedural")
    lay = layout_of(one("circle", "red", (0.1, 0.1, 0.5, 0.5)))
    image = backbone.render([lay], seeds=[0]).images[0]
    blank = Image.new("RGB", (64, 64), (0, 0, 0))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 32))
    out = np.asarray(backbone.repaint([blank], [mask], [lay], seeds=[0]).images[0])
    assert (out[32:, :] == 0).all() and (out[:, 32:] == 0).all()
    assert (out[:32, :32] == np.asarray(image)[:32, :32]).all()


def test_out_of_vocabulary_class_is_e402():
    from compose.backbones.base import get_backbone
    from compose.errors import BackboneError

    lay = Layout(canvas=(64, 64), boxes={"cat#0": (0.1, 0.1, 0.5, 0.5)},
                 objects={"cat#0": Region(phrase="a cat", **{"class": "cat"})})
    with pytest.raises(BackboneError) as info:
        get_backbone("procedural").render([lay], seeds=[0])
    assert info.value.code == "E402" and info.value.exit_code == 5 and "circle" in str(info.value)


def test_render_command_lays_a_scene_out_like_compose_layout(tmp_path):
    from pathlib import Path

    from compose.api import layout, load_scene
    from compose.cli.main import main

    example = Path(__file__).resolve().parents[2] / "examples" / "shapes.scene"
    used = tmp_path / "used.json"
    assert main(["render", str(example), "-o", str(tmp_path / "out.png"), "--backbone", "procedural",
                 "--seed", "7", "--layout-out", str(used)]) == 0
    assert Layout.from_json(used.read_text()) == layout(load_scene(example), seed=7)
    assert Image.open(tmp_path / "out.png").size == tuple(Layout.from_json(used.read_text()).canvas)
