"""Where large problems start: boxes dealt into a grid of cells, each beside what it relates to.

Past a few hundred boxes, the soft targets' places (seeded, uniform over the canvas, blind to the
relations) are a poor start for the projections (:mod:`solvers.project`): half the directions
point the wrong way, and hundreds of boxes must cross each other to mend them. Here boxes that
may overlap (a child and its parent) form a group, one group a cell. Each connected set of
groups (joined by the constraints) is dealt on a grid of its own, breadth first from a seeded
root: a group takes the cell nearest to where its placed neighbours want it (one cell along an
order hint's direction, such as ``a`` left of ``b``, else next to them) that breaks the fewest
of its statements with them, read at the cells' centres. Each set, largest first, is then moved
onto the canvas' grid where the fewest of its cells are taken, and the groups that land on a
taken cell are dealt again beside their neighbours there. The cells' centres become the
targets of the boxes' centres; the sizes' targets stay. On planted 500-object scenes (ids
10-19) the layouts then took a median 1.7 s, all 10 laid out, against 1 of 5 within 10 s from
the seeded targets (see ``docs/solver.md``).

>>> from solvers.model import Problem
>>> p = Problem(100, 100)
>>> for name in "abcd":
...     p.target(p.add_box(name, min_size=(10, 10)).cx2, 100, 1)
>>> p.hint_order("x", "d", "a"); p.hint_order("y", "b", "c")
>>> centres = arranged_centres(p, seed=0)
>>> centres["d"][0] < centres["a"][0], centres["b"][1] <= centres["c"][1]
(True, True)
"""

from __future__ import annotations

import math
import random

from .model import Problem, Target

#: Grid cells per box group: a little room, so that a group finds a free cell near its neighbours.
SPREAD = 1.15

#: A cell is chosen among those up to ``REACH`` rings beyond the nearest free one, each statement
#: it breaks counting as ``BROKEN_COST`` cells of distance.
REACH = 2
BROKEN_COST = 10.0


def arranged_centres(problem: Problem, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Each box's cell centre ``(x, y)`` on the grid (see the module's docstring).

    Boxes that may overlap form one group, in one cell; groups that share a constraint or an
    order hint are neighbours. A statement a cell breaks costs ``BROKEN_COST`` cells of
    distance from where the neighbours want the group.
    """
    import numpy as np

    rng = random.Random(seed)
    names = list(problem.boxes)
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for sep in problem.separations:
        for pair in sep.allowed:
            if len(pair) == 2:
                a, b = (root(n) for n in pair)
                if a != b:
                    parent[b] = a
    groups = list(dict.fromkeys(root(n) for n in names))
    linked: dict[str, set[str]] = {g: set() for g in groups}
    for req in problem.requirements:
        involved = {root(n) for n in req.constraint.boxes()}
        for g in involved:
            linked[g] |= involved - {g}
    # (first, second) along each axis
    before: dict[tuple[str, str], tuple[int, int]] = {}
    for axis, first, second in problem.order:
        a, b = root(first), root(second)
        if a != b:
            linked[a].add(b)
            linked[b].add(a)
            before[(a, b)] = (0, 1) if axis == "x" else (1, 1)
            before[(b, a)] = (0, -1) if axis == "x" else (1, -1)

    # in the groups' order, not a set's (whose order changes with the process' string hashing)
    position = {g: i for i, g in enumerate(groups)}
    neighbours = {g: sorted(linked[g], key=position.__getitem__) for g in groups}

    components, seen = [], set()
    for g in groups:
        if g not in seen:
            stack, members = [g], []
            seen.add(g)
            while stack:
                u = stack.pop()
                members.append(u)
                for v in neighbours[u]:
                    if v not in seen:
                        seen.add(v)
                        stack.append(v)
            components.append(members)
    components.sort(key=len, reverse=True)

    W, H = problem.width, problem.height
    columns = max(1, math.ceil(math.sqrt(SPREAD * len(groups) * W / H)))
    rows = max(1, math.ceil(SPREAD * len(groups) / columns))
    cell_w, cell_h = W / columns, H / rows
    group_boxes: dict[str, list[str]] = {g: [] for g in groups}
    for n in names:
        group_boxes[root(n)].append(n)
    # within a cell, boxes keep their own order hints (a cup on a table sits above its centre)
    shift = {n: [0.0, 0.0] for n in names}
    for axis, first, second in problem.order:
        if first != second and root(first) == root(second):
            k, step = (0, cell_w / 5) if axis == "x" else (1, cell_h / 5)
            shift[first][k] -= step
            shift[second][k] += step
    reqs_of: dict[str, list[tuple[object, set[str]]]] = {g: [] for g in groups}
    for req in problem.requirements:
        involved = {root(n) for n in req.constraint.boxes()}
        for g in involved:
            reqs_of[g].append((req, involved))

    def wanted(where: dict[str, tuple[int, int]], v: str, u: str) -> tuple[int, int]:
        """Where ``u``'s cell should be, beside placed ``v``'s: one cell on the side an order
        hint asks for, else ``v``'s own (the nearest free cell is then next to it)."""
        (c, r), side = where[v], before.get((v, u))
        if side is None:
            return c, r
        return (c + side[1], r) if side[0] == 0 else (c, r + side[1])

    def broken(where: dict[str, tuple[int, int]], at: tuple[int, int], u: str) -> int:
        """Statements ``u`` breaks with the placed groups if it takes ``at`` (boxes at their
        cells' centres, at their least sizes)."""
        boxes = {}
        for g in {g for _, involved in reqs_of[u] for g in involved}:
            if g == u or g in where:
                for n in group_boxes[g]:
                    spec = problem.boxes[n]
                    c, r = at if g == u else where[g]
                    cx, cy = (c + 0.5) * cell_w + shift[n][0], (r + 0.5) * cell_h + shift[n][1]
                    x0, y0 = round(cx - spec.min_w / 2), round(cy - spec.min_h / 2)
                    boxes[n] = (x0, y0, x0 + spec.min_w, y0 + spec.min_h)
        bad: set = set()
        for req, involved in reqs_of[u]:
            if req.tag not in bad and all(g == u or g in where for g in involved) \
                    and not req.constraint.holds(boxes):
                bad.add(req.tag)  # (a direction's other 16 facets need not be read)
        return len(bad)

    def best_cell(where: dict[str, tuple[int, int]], u: str, is_free, near: tuple[float, float] | None = None):
        """The free cell that breaks the fewest statements (``BROKEN_COST`` cells each) plus its
        distance to where the placed neighbours want it, among those up to ``REACH`` rings
        beyond the nearest free ring around that spot (or ``near``)."""
        placed = [v for v in neighbours[u] if v in where]
        spots = [wanted(where, v, u) for v in placed]
        if near is None:
            near = (sum(c for c, _ in spots) / len(spots), sum(r for _, r in spots) / len(spots))
        cx, cy = round(near[0]), round(near[1])
        first = next(r for r in range(len(groups) + max(columns, rows) + 1)
                     if any(is_free(c, q) for c in range(cx - r, cx + r + 1) for q in range(cy - r, cy + r + 1)))
        reach = first + REACH
        ranked = sorted((sum(abs(c - wc) + abs(q - wr) for wc, wr in spots), rng.random(), (c, q))
                        for c in range(cx - reach, cx + reach + 1) for q in range(cy - reach, cy + reach + 1)
                        if is_free(c, q))
        best, choice = math.inf, ranked[0][2]
        for distance, _, at in ranked:
            if distance >= best:
                break  # farther cells cannot do better, whatever they break
            total = distance + BROKEN_COST * broken(where, at, u)
            if total < best:
                best, choice = total, at
        return choice

    cell: dict[str, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    blocked = np.zeros((columns, rows), dtype=bool)  # taken, as an array

    def free_on_grid(c: int, r: int) -> bool:
        return 0 <= c < columns and 0 <= r < rows and (c, r) not in taken

    for component in components:
        # 1. dealt on a grid of its own, without edges, from a seeded root
        local: dict[str, tuple[int, int]] = {}
        used: set[tuple[int, int]] = set()
        walk = [min(component, key=lambda g: rng.random())]
        queued = set(walk)
        for u in walk:  # breadth first: the walk grows as it goes
            at = (0, 0) if not local else best_cell(local, u, lambda c, r, used=used: (c, r) not in used)
            local[u] = at
            used.add(at)
            nexts = sorted((v for v in neighbours[u] if v not in queued), key=lambda g: rng.random())
            walk += nexts
            queued.update(nexts)
        # 2. moved onto the canvas' grid where the fewest of its cells are taken or off it, the
        #    rest dealt again, each beside its neighbours there
        lo_c, hi_c = min(c for c, _ in used), max(c for c, _ in used)
        lo_r, hi_r = min(r for _, r in used), max(r for _, r in used)
        shifts_c = np.arange(-lo_c, max(-lo_c, columns - 1 - hi_c) + 1)
        shifts_r = np.arange(-lo_r, max(-lo_r, rows - 1 - hi_r) + 1)
        cs, rs = (np.array(v) for v in zip(*sorted(used)))
        c_at, r_at = cs[:, None, None] + shifts_c[None, :, None], rs[:, None, None] + shifts_r[None, None, :]
        on_grid = (c_at >= 0) & (c_at < columns) & (r_at >= 0) & (r_at < rows)
        clash = ~on_grid | blocked[np.clip(c_at, 0, columns - 1), np.clip(r_at, 0, rows - 1)]
        counts = clash.sum(axis=0) + np.array([[rng.random() for _ in shifts_r] for _ in shifts_c]) * 0.5
        k_c, k_r = np.unravel_index(int(np.argmin(counts)), counts.shape)
        dc, dr = int(shifts_c[k_c]), int(shifts_r[k_r])
        for u in walk:
            c, r = local[u]
            at = (c + dc, r + dr)
            if not free_on_grid(*at):
                at = best_cell(cell, u, free_on_grid, near=at)
            cell[u] = at
            taken.add(at)
            blocked[at] = True
    return {n: ((cell[root(n)][0] + 0.5) * cell_w + shift[n][0], (cell[root(n)][1] + 0.5) * cell_h + shift[n][1])
            for n in names}


#: The attributes whose sum is twice a box's centre, by axis.
_CENTRE_AXIS = {frozenset(("x0", "x1")): 0, frozenset(("y0", "y1")): 1}


def arranged_targets(problem: Problem, seed: int = 0) -> list[Target]:
    """``problem``'s soft targets, each box's centre targets (``cx2``, ``cy2``) moved to its cell's
    centre."""
    centres = arranged_centres(problem, seed)
    out = []
    for target in problem.targets:
        terms = target.expr.terms
        owners = {name for name, _ in terms}
        axis = _CENTRE_AXIS.get(frozenset(a for _, a in terms))
        if axis is not None and len(owners) == 1 and set(terms.values()) == {1}:
            centre = centres[owners.pop()][axis]
            out.append(Target(target.expr, round(2 * centre) + target.expr.constant, target.weight))
        else:
            out.append(target)
    return out
