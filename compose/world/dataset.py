"""Random scenes of the embedded world, laid out, rendered and annotated in COCO format.

Two sources of layouts:

* :func:`random_layout` samples boxes directly (fast; it is what training draws on the fly):
  1-8 shapes of random colors and sizes, some placed inside others, some overlapping in front
  of or behind others, the rest apart;
* :func:`random_scene` builds a :class:`~compose.scene.Scene` with relation statements (every
  relation of the table) for :func:`compose.placement.place` to solve, used by ``compose world
  dataset`` when the layout solver is installed.

Everything takes a seed; the same seed gives the same bytes.

Examples
--------
>>> lay = random_layout(7, objects=(3, 3))
>>> len(lay.boxes), lay.seed
(3, 7)
>>> random_layout(7, objects=(3, 3)) == lay
True
"""

from __future__ import annotations

import numpy as np

from compose.layouts import Layout, Region
from compose.vocabulary import BACKGROUNDS, COLOR_NAMES, SHAPES

#: Seeds of held-out layouts live in their own stream, apart from every training stream.
HELDOUT_STREAM = 982_451_653
TRAIN_STREAM = 179_424_673


def _region(shape: str, color: str, z: int) -> Region:
    return Region(phrase=f"a {color} {shape}", attributes={"color": color}, z=z, **{"class": shape})


def random_layout(seed: int | tuple[int, ...], *, objects: tuple[int, int] = (1, 8),
                  canvas: tuple[int, int] = (64, 64), stream: int = TRAIN_STREAM) -> Layout:
    """A random layout of shapes (boxes sampled directly, no solver).

    Parameters
    ----------
    seed : int or tuple of int
        Seeds the layout; with ``stream`` it selects one independent random stream.
    objects : (int, int)
        Inclusive range of the number of shapes.
    canvas : (int, int)
        The layout's canvas in pixels.
    stream : int
        :data:`TRAIN_STREAM` for training, :data:`HELDOUT_STREAM` for evaluation.
    """
    key = seed if isinstance(seed, tuple) else (seed,)
    rng = np.random.default_rng([stream, *key])
    n = int(rng.integers(objects[0], objects[1] + 1))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    regions: dict[str, Region] = {}
    zs: dict[str, int] = {}
    for i in range(n):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
        name = f"{shape}{i}#0"
        roll = rng.random()
        big = [k for k, b in boxes.items() if b[2] - b[0] >= 0.34 and b[3] - b[1] >= 0.34]
        if roll < 0.15 and big:  # inside an existing shape, drawn in front of it
            parent = big[int(rng.integers(len(big)))]
            px0, py0, px1, py1 = boxes[parent]
            side = rng.uniform(0.35, 0.5)
            w, h = side * (px1 - px0), side * (py1 - py0)
            cx = (px0 + px1) / 2 + rng.uniform(-0.1, 0.1) * (px1 - px0)
            cy = (py0 + py1) / 2 + rng.uniform(-0.05, 0.15) * (py1 - py0)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            z = zs[parent] + 1
        else:
            side = rng.uniform(0.14, 0.42 if n <= 4 else 0.32)
            aspect = float(np.exp(rng.uniform(-0.25, 0.25)))
            w, h = min(0.9, side * aspect), min(0.9, side / aspect)
            overlap = roll < 0.4 and boxes
            for _ in range(40):
                if overlap:  # partly over an existing shape, in front or behind
                    other = boxes[list(boxes)[int(rng.integers(len(boxes)))]]
                    cx = (other[0] + other[2]) / 2 + rng.uniform(-0.6, 0.6) * (other[2] - other[0])
                    cy = (other[1] + other[3]) / 2 + rng.uniform(-0.6, 0.6) * (other[3] - other[1])
                    x0 = float(np.clip(cx - w / 2, 0.02, 0.98 - w))
                    y0 = float(np.clip(cy - h / 2, 0.02, 0.98 - h))
                else:
                    x0, y0 = rng.uniform(0.02, 0.98 - w), rng.uniform(0.02, 0.98 - h)
                box = (x0, y0, x0 + w, y0 + h)
                if overlap and not any(_covers(box, b) > 0.4 or _covers(b, box) > 0.4 for b in boxes.values()):
                    break
                if not overlap and not any(_intersects(box, b) for b in boxes.values()):
                    break
            z = int(rng.integers(-1, 2)) if overlap else 0
        box = tuple(round(float(v), 4) for v in box)
        boxes[name], zs[name] = box, z
        regions[name] = _region(shape, color, z)
    background = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    seed_value = key[0] if len(key) == 1 else int(rng.integers(2**31))
    return Layout(canvas=canvas, boxes=boxes, objects=regions, background=background, seed=seed_value)


def _covers(a, b) -> float:
    """The share of box ``b`` that box ``a`` covers."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max((b[2] - b[0]) * (b[3] - b[1]), 1e-9)


def _intersects(a, b, margin: float = 0.01) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def heldout_layouts(n: int = 200, *, objects: tuple[int, int] = (1, 6),
                    canvas: tuple[int, int] = (64, 64)) -> list[Layout]:
    """The evaluation layouts: seeds ``0..n-1`` of the held-out stream, which training never
    draws from."""
    return [random_layout(i, objects=objects, canvas=canvas, stream=HELDOUT_STREAM) for i in range(n)]


#: Seeds of ``compose world dataset`` scenes live in their own stream.
DATASET_STREAM = 373_587_883

#: Relations a random scene draws from (every relation of the table), with the arity each takes.
_SCENE_RELATIONS = ("left_of", "right_of", "above", "below", "on", "under", "inside", "near", "next_to",
                    "in_front_of", "behind", "between", "larger_than", "smaller_than")


def random_scene(seed: int, *, objects: tuple[int, int] = (1, 8), canvas: tuple[int, int] = (64, 64)):
    """A random :class:`~compose.scene.Scene` of shapes, one object per group, related in a tree
    (each object to one or two earlier ones) so that the statements rarely contradict.

    >>> scene = random_scene(5, objects=(4, 4))
    >>> len(scene.objects), all(g.class_name in SHAPES for g in scene.objects)
    (4, True)
    """
    from compose.relations import RELATIONS
    from compose.scene import ObjectGroup, Ref, RelationStatement, Scene

    rng = np.random.default_rng([DATASET_STREAM, 1, seed])
    n = int(rng.integers(objects[0], objects[1] + 1))
    groups, statements = [], []
    for i in range(n):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        color = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
        size = ("small", "medium", "large")[int(rng.integers(3))] if n <= 4 else ("small", "medium")[int(rng.integers(2))]
        groups.append(ObjectGroup(name=f"{shape}{i}", phrase=f"a {color} {shape}", color=color, size=size,
                                  **{"class": shape}))
        if i == 0 or rng.random() < 0.25:
            continue
        predicate = _SCENE_RELATIONS[int(rng.integers(len(_SCENE_RELATIONS)))]
        arity = RELATIONS[predicate].arity
        if arity > i:
            predicate, arity = "near", 1
        others = rng.choice(i, size=arity, replace=False)
        statements.append(RelationStatement(subject=Ref(group=groups[i].name), predicate=predicate,
                                            objects=[Ref(group=groups[int(j)].name) for j in others]))
    background = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    return Scene(canvas=canvas, objects=groups, statements=statements, seed=seed, background=background)


def scene_layout(seed: int, *, objects: tuple[int, int] = (1, 8), canvas: tuple[int, int] = (64, 64)) -> Layout:
    """A random scene laid out by the solver; colors and classes are filled in from the scene
    when the solver's regions leave them out."""
    from compose.placement import place

    scene = random_scene(seed, objects=objects, canvas=canvas)
    layout = place(scene, seed=seed)
    groups = {g.name: g for g in scene.objects}
    regions = {}
    for instance in layout.boxes:
        group = groups.get(instance.split("#")[0])
        region = layout.objects.get(instance)
        if group is None:
            regions[instance] = region
            continue
        attributes = dict(region.attributes) if region else {}
        attributes.setdefault("color", group.color)
        regions[instance] = Region(phrase=group.phrase, attributes=attributes, z=region.z if region else 0,
                                   **{"class": group.class_name})
    return layout.model_copy(update={"objects": regions, "background": layout.background or scene.background,
                                     "seed": seed})


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a boolean mask (column-major runs, starting with zeros).

    >>> m = np.array([[0, 1], [1, 1]], dtype=bool)
    >>> mask_to_rle(m)
    {'counts': [1, 3], 'size': [2, 2]}
    >>> bool((rle_to_mask(mask_to_rle(m)) == m).all())
    True
    """
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"counts": [int(c) for c in counts], "size": [int(mask.shape[0]), int(mask.shape[1])]}


def rle_to_mask(rle: dict) -> np.ndarray:
    """Inverse of :func:`mask_to_rle`."""
    h, w = rle["size"]
    values = np.zeros(h * w, dtype=bool)
    position, value = 0, False
    for count in rle["counts"]:
        values[position:position + count] = value
        position += count
        value = not value
    return values.reshape((h, w), order="F")


def write_dataset(out, n: int, *, seed: int = 0, size: int = 64, objects: tuple[int, int] = (1, 8),
                  sampler: str = "auto") -> dict:
    """Render ``n`` random scenes into ``out/images/*.png`` with ``out/annotations.json`` (COCO:
    images, annotations with bbox, area, RLE segmentation of the visible pixels, category and
    color, categories). The same arguments give the same bytes.

    ``sampler``: ``"solver"`` lays out :func:`random_scene` with :func:`compose.placement.place`,
    ``"boxes"`` samples boxes with :func:`random_layout`, ``"auto"`` uses the solver when it is
    installed. A scene the solver finds infeasible falls back to sampled boxes (recorded per image).
    """
    import json
    from pathlib import Path

    from compose.errors import ComposeError
    from compose.world.draw import render_layout

    use_solver = sampler in ("solver", "auto")
    root = Path(out)
    (root / "images").mkdir(parents=True, exist_ok=True)
    categories = [{"id": i + 1, "name": s, "supercategory": "shape"} for i, s in enumerate(SHAPES)]
    category_id = {c["name"]: c["id"] for c in categories}
    images, annotations = [], []
    for index in range(n):
        layout, source = None, "boxes"
        if use_solver:
            try:
                layout, source = scene_layout(seed * 1_000_003 + index, objects=objects, canvas=(size, size)), "solver"
            except ComposeError:
                layout = None
        if layout is None:
            layout = random_layout((seed, index), objects=objects, canvas=(size, size), stream=DATASET_STREAM)
        rendered = render_layout(layout, (size, size))
        name = f"images/{index:06d}.png"
        rendered.image.save(root / name, format="PNG")
        images.append({"id": index + 1, "file_name": name, "width": size, "height": size,
                       "seed": rendered.seed, "background": rendered.background, "layout_source": source,
                       "layout": layout.to_dict()})
        for z, obj in enumerate(rendered.objects):
            mask = rendered.masks[obj.instance]
            x0, y0, x1, y1 = obj.box
            annotations.append({
                "id": len(annotations) + 1, "image_id": index + 1, "category_id": category_id[obj.shape],
                "instance": obj.instance, "color": obj.color, "depth_order": z,
                "bbox": [round(x0 * size, 3), round(y0 * size, 3), round((x1 - x0) * size, 3), round((y1 - y0) * size, 3)],
                "area": int(mask.sum()), "segmentation": mask_to_rle(mask), "iscrowd": 0,
            })
    coco = {"info": {"description": "compose embedded world", "seed": seed, "sampler": "solver" if use_solver else "boxes",
                     "objects": list(objects)},
            "images": images, "annotations": annotations, "categories": categories,
            "colors": list(COLOR_NAMES)}
    (root / "annotations.json").write_text(json.dumps(coco, sort_keys=True, indent=1), encoding="utf-8")
    return {"images": len(images), "annotations": len(annotations), "sampler": coco["info"]["sampler"]}
