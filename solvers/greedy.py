"""A greedy starting point: shelf packing in the order the problem's relations suggest.

The packer places the movable boxes row by row ("shelves"), sorted by their rank along the
problem's order hints (``hint_order``), at the wanted sizes and, when they do not fit, at smaller
sizes down to each box's minimum. Fixed boxes stay where they are. The result is a hint for the
exact solver, not an answer: it holds the canvas bounds and minimum sizes, and usually the
no-overlap sets and most orderings.

>>> p = Problem(100, 100)
>>> for name in "abc":
...     _ = p.add_box(name, min_size=(20, 20))
>>> p.hint_order("x", "c", "a")
>>> boxes = shelf_pack(p)
>>> boxes["c"][0] < boxes["a"][0]
True
"""

from __future__ import annotations

from .model import GridBox, Problem


def ranks(names: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path rank of every name along ``edges`` (first, second); cycles are cut off.

    >>> ranks(["a", "b", "c"], [("a", "b"), ("b", "c")])
    {'a': 0, 'b': 1, 'c': 2}
    """
    rank = {n: 0 for n in names}
    relevant = [(a, b) for a, b in edges if a in rank and b in rank and a != b]
    for _ in range(min(len(names), 64)):  # Bellman-Ford passes; a cycle stops growing after the cap
        changed = False
        for a, b in relevant:
            if rank[b] < rank[a] + 1:
                rank[b] = rank[a] + 1
                changed = True
        if not changed:
            break
    return rank


def shelf_pack(problem: Problem, wanted: dict[str, tuple[int, int]] | None = None) -> dict[str, GridBox]:
    """Pack every box of ``problem`` on shelves; ``wanted`` sizes default to the minimum sizes."""
    movable = [n for n, spec in problem.boxes.items() if spec.fixed is None]
    x_rank = ranks(movable, [(a, b) for axis, a, b in problem.order if axis == "x"])
    y_rank = ranks(movable, [(a, b) for axis, a, b in problem.order if axis == "y"])
    position = {n: i for i, n in enumerate(movable)}
    ordered = sorted(movable, key=lambda n: (y_rank[n], x_rank[n], position[n]))
    out: dict[str, GridBox] = {n: spec.fixed for n, spec in problem.boxes.items() if spec.fixed is not None}
    wanted = wanted or {}
    W, H = problem.width, problem.height

    def size(name: str, scale: float) -> tuple[int, int]:
        spec = problem.boxes[name]
        w, h = wanted.get(name, (spec.min_w, spec.min_h))
        w = max(spec.min_w, min(W, int(w * scale)))
        h = max(spec.min_h, min(H, int(h * scale)))
        return w, h

    scale = 1.0
    placed: dict[str, GridBox] = {}
    for _ in range(24):
        placed, fits = _shelves(ordered, lambda n, scale=scale: size(n, scale), W, H)
        if fits:
            break
        scale *= 0.85
    out.update(placed)
    return out


def _shelves(names: list[str], size, W: int, H: int) -> tuple[dict[str, GridBox], bool]:
    placed: dict[str, GridBox] = {}
    x = y = row_h = 0
    fits = True
    for name in names:
        w, h = size(name)
        if x + w > W and x > 0:
            x, y, row_h = 0, y + row_h, 0
        if y + h > H:
            fits = False
        x0, y0 = min(x, W - w), min(y, H - h)
        placed[name] = (x0, y0, x0 + w, y0 + h)
        x += w
        row_h = max(row_h, h)
    return placed, fits

