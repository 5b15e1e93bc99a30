"""A second start, and the first past 200 boxes: alternating projections onto the constraints.

Every hard constraint of a :class:`~solvers.model.Problem` is a half-space (or, for a
disjunction, the half-spaces of its branch nearest to holding; for a forbidden pair that
overlaps, the separating half-space on the side that needs the least movement). Each sweep
projects the boxes onto every half-space they break at once and moves each coordinate by the
average of its projections (simultaneous projection, after Cimmino), then clamps the boxes to
the canvas and their size bounds, and pulls them a little towards their soft targets, less
with every sweep. A broken constraint's weight in the average grows while it stays broken, the
least sizes grow from half of themselves, and when the sweeps stall the boxes of what is broken
jump a seeded random step. Half-spaces are tightened by the rounding error, as in
:mod:`solvers.relax`, so the rounded boxes hold on the integer grid.

A sweep costs a few sparse products, whatever the number of constraints, so a thousand boxes
take milliseconds per sweep where a linear program over them takes seconds. Like the linear
start, it is a heuristic: the answer is checked exactly (:meth:`Problem.violations`), and what
it leaves broken the neighbourhood search mends.

>>> p = Problem(100, 100)
>>> names = [f"b{i}" for i in range(6)]
>>> for name in names:
...     _ = p.add_box(name, min_size=(20, 20))
>>> p.require(p.box("b0").x1 + 5 <= p.box("b1").x0)
>>> p.no_overlap(names)
>>> boxes, broken = projected_layout(p, seed=0)
>>> broken, p.violations(boxes)
(0, [])
"""

from __future__ import annotations

import time

from .model import AreaRatio, GridBox, Linear, Problem
from .relax import base_columns

#: Sweeps at most, and how often the forbidden pairs within ``REACH`` grid units of each other
#: are found again (between, only the pairs found last are checked).
MAX_SWEEPS = 10000
PAIRS_EVERY = 5
REACH = 30.0

#: Over-relaxation of the averaged projections (1: the plain average; below 2 converges).
RELAXATION = 1.9

#: Pull towards the soft targets, as a share of the way, at the first sweep; it halves every
#: ``PULL_HALF_LIFE`` sweeps.
PULL = 0.2
PULL_HALF_LIFE = 40

#: A constraint's weight in the average grows by ``GROWTH`` every sweep it is broken (up to
#: ``MAX_WEIGHT``) and decays back towards 1 by ``DECAY`` while it holds: what stays broken
#: gains on what holds, so that a compromise between them shifts until a disjunction's branch or
#: a pair's side changes (a breakout scheme). Without it, 100-object scenes stalled at 20-90
#: broken constraints; with it, at 0-5.
GROWTH = 1.05
DECAY = 0.99
MAX_WEIGHT = 1e4

#: The least sizes start at ``SHRINK`` of themselves and grow to all of them over
#: ``GROW_SWEEPS`` sweeps, so that boxes find their order while there is room (as packings are
#: grown); at 1,000 objects this left 173 constraints broken against 455.
SHRINK = 0.5
GROW_SWEEPS = 300

#: Sweeps between exact checks of the rounded boxes (made when the count of broken constraints
#: reaches a new low).
CHECK_EVERY = 10

#: Sweeps without a new low after which the boxes of what is broken jump (by up to ``KICK`` of
#: their size); 0: never.
KICK_AFTER = 200
KICK = 0.5

#: Jumps in a row without a new low after which the sweeps give up (an impossible problem
#: would otherwise sweep until the deadline before CP-SAT proves it so).
MAX_KICKS = 20


def projected_layout(problem: Problem, *, seed: int = 0, sweeps: int = MAX_SWEEPS,
                     deadline: float | None = None, enough: int = 0,
                     settle: tuple[int, int] | None = None) -> tuple[dict[str, GridBox], int]:
    """Boxes on the grid, and how many hard constraints and forbidden pairs they break
    (0: a layout; else the boxes that broke fewest, a start for the neighbourhood search).

    ``seed`` draws the boxes' first places, before the soft targets (seeded by the caller, as
    :func:`compose.placement.build_problem` seeds them) pull them there; ``deadline``
    (a ``time.perf_counter()`` value) stops the sweeps early, else ``sweeps`` does, so that
    the same seed gives the same boxes. ``enough``: at a stall, the sweeps stop (instead of a
    jump) once at most that many constraints are broken, for the caller to mend. ``settle =
    (sweeps, broken)``: after that many sweeps, stop once the rounded boxes break at most
    ``broken`` (as checked at each new low).
    """
    import numpy as np
    from scipy import sparse

    names = list(problem.boxes)
    index = {n: i for i, n in enumerate(names)}
    n = len(names)
    W, H = float(problem.width), float(problem.height)
    rng = np.random.default_rng(seed)

    fixed = np.zeros((n, 4), dtype=bool)
    lo = np.zeros((n, 4))
    hi = np.zeros((n, 4))
    for name, spec in problem.boxes.items():
        i = index[name]
        if spec.fixed is not None:
            x0, y0, x1, y1 = spec.fixed
            lo[i] = hi[i] = (x0, y0, x1 - x0, y1 - y0)
            fixed[i] = True
        else:
            lo[i] = (0, 0, spec.min_w + 0.5, spec.min_h + 0.5)
            hi[i] = (W, H, max(spec.min_w + 0.5, min(W, spec.max_w or W) - 0.5),
                     max(spec.min_h + 0.5, min(H, spec.max_h or H) - 0.5))
    movable = ~fixed.reshape(-1)

    # --- rows a.x <= b over the base variables (x0, y0, w, h of every box) ---------------------
    rows_col: list[list[int]] = []
    rows_coef: list[list[float]] = []
    rows_b: list[float] = []
    rows_exact: list[float] = []  # the bounds as written, for the exact check on the grid

    def add(lin: Linear) -> list[int]:
        """Row ids of ``lin``'s one or two half-spaces, tightened for rounding to the grid."""
        coefs = base_columns(lin, index)
        slack = 0.5 * sum(abs(c) for c in coefs.values()) + 0.5
        ids = []
        if lin.hi is not None:
            ids.append(len(rows_b))
            rows_col.append(list(coefs))
            rows_coef.append(list(coefs.values()))
            rows_b.append(lin.hi - slack)
            rows_exact.append(lin.hi)
        if lin.lo is not None:
            ids.append(len(rows_b))
            rows_col.append(list(coefs))
            rows_coef.append([-c for c in coefs.values()])
            rows_b.append(-(lin.lo + slack))
            rows_exact.append(-lin.lo)
        return ids

    always: list[int] = []
    choices: list[list[list[int]]] = []  # per disjunction, per branch: its row ids
    areas: list[tuple[int, int, int, int, int]] = []  # (disjunction, big, small, num, den)
    for req in problem.requirements:
        c = req.constraint
        if isinstance(c, Linear):
            always += add(c)
        elif len(c.branches) == 1:
            for lin in c.branches[0]:
                always += add(lin)
        else:
            if isinstance(c, AreaRatio):
                areas.append((len(choices), index[c.big], index[c.small], c.num, c.den))
            choices.append([[r for lin in branch for r in add(lin)] for branch in c.branches])

    m = len(rows_b)
    indptr = np.cumsum([0] + [len(c) for c in rows_col])
    cols = np.fromiter((c for row in rows_col for c in row), dtype=np.int64, count=int(indptr[-1]))
    coefs = np.fromiter((c for row in rows_coef for c in row), dtype=np.float64, count=int(indptr[-1]))
    A = sparse.csr_matrix((coefs, cols, indptr), shape=(m, 4 * n))
    A_free = A.multiply(movable[None, :]).tocsr()
    norm2 = np.asarray(A_free.multiply(A_free).sum(axis=1)).ravel()
    A_touch = A_free.copy()
    A_touch.data[:] = 1.0  # which coordinates a row moves
    b = np.asarray(rows_b)
    b_exact = np.asarray(rows_exact, dtype=np.float64)
    # rows that no movable box can change are left to the exact check
    live = norm2 > 0
    inv_norm2 = np.where(live, 1.0 / np.maximum(norm2, 1e-12), 0.0)
    always_mask = np.zeros(m, dtype=bool)
    always_mask[always] = True
    branch_rows = [np.array(rs, dtype=np.int64) for branches in choices for rs in branches]

    # --- soft targets: rows a.x = v, pulled towards ------------------------------------------
    t_cols, t_coefs, t_ptr, t_val, t_w, t_size = [], [], [0], [], [], []
    for target in problem.targets:
        if target.weight <= 0:
            continue
        tc = base_columns(Linear(target.expr, None, None), index)
        t_cols += list(tc)
        t_coefs += list(tc.values())
        t_ptr.append(len(t_cols))
        t_val.append(float(target.value - target.expr.constant))
        t_size.append({a for _, a in target.expr.terms} <= {"w", "h"})
        t_w.append(float(target.weight))
    T = sparse.csr_matrix((np.asarray(t_coefs, dtype=np.float64), np.asarray(t_cols, dtype=np.int64),
                           np.asarray(t_ptr)), shape=(len(t_val), 4 * n))
    T_free = T.multiply(movable[None, :]).tocsr()
    t_norm2 = np.asarray(T_free.multiply(T_free).sum(axis=1)).ravel()
    t_val = np.asarray(t_val)
    t_size = np.asarray(t_size, dtype=bool)
    t_share = np.where(t_norm2 > 0, 1.0 / np.maximum(t_norm2, 1e-12), 0.0)
    t_weight = np.asarray(t_w) / max(1.0, max(t_w, default=1.0))

    # --- forbidden pairs -----------------------------------------------------------------------
    groups = []
    for sep in problem.separations:
        if len(sep.names) < 2:
            continue
        ids = np.array([index[nm] for nm in sep.names], dtype=np.int64)
        pos = {nm: k for k, nm in enumerate(sep.names)}
        codes = sorted(min(pos[a], pos[c]) * len(ids) + max(pos[a], pos[c])
                       for a, c in (tuple(pair) for pair in sep.allowed if len(pair) == 2))
        groups.append((ids, np.asarray(codes, dtype=np.int64), float(sep.gap)))

    # --- the start: least sizes at seeded random places, then pulled to the targets ----------
    x = np.zeros((n, 4))
    x[:, 2] = lo[:, 2]
    x[:, 3] = lo[:, 3]
    x[:, 0] = rng.uniform(0, 1, n) * np.maximum(0.0, W - x[:, 2])
    x[:, 1] = rng.uniform(0, 1, n) * np.maximum(0.0, H - x[:, 3])
    x = np.where(fixed, lo, x).reshape(-1)
    flat_lo, flat_hi = lo.reshape(-1), hi.reshape(-1)

    size_cols = np.zeros(4 * n, dtype=bool)
    size_cols[2::4] = size_cols[3::4] = True
    size_cols &= movable
    floor = flat_lo.copy()

    def clamp(v):
        v = np.clip(v, floor, np.maximum(floor, flat_hi))
        box = v.reshape(-1, 4)
        # on the canvas: x0 + w <= W - 1 (as the linear start keeps it)
        box[:, 0] = np.clip(box[:, 0], 0.0, np.maximum(0.0, W - 1.0 - box[:, 2]))
        box[:, 1] = np.clip(box[:, 1], 0.0, np.maximum(0.0, H - 1.0 - box[:, 3]))
        box[fixed] = lo[fixed]
        return v

    # disjunctions: a padded table of branch ids, and which rows each branch owns
    n_disj = len(choices)
    widest = max((len(c) for c in choices), default=1)
    table = np.full((n_disj, widest), -1, dtype=np.int64)
    k = 0
    for d, branches in enumerate(choices):
        table[d, :len(branches)] = np.arange(k, k + len(branches))
        k += len(branches)
    n_branch = k
    b_rows = np.concatenate(branch_rows) if branch_rows else np.zeros(0, dtype=np.int64)
    b_ids = np.concatenate([np.full(len(rs), q) for q, rs in enumerate(branch_rows)]) if branch_rows else np.zeros(0, dtype=np.int64)
    B = sparse.csr_matrix((np.ones(len(b_rows)), (b_ids, b_rows)), shape=(n_branch, m))
    chosen = np.zeros(n_disj, dtype=np.int64)  # column of ``table``
    row_weight = np.ones(m)
    pair_weight = np.ones((n, n), dtype=np.float32) if groups else None
    pairs = np.zeros((0, 3))  # i, j, gap
    side = np.zeros(0, dtype=np.int64)
    best = (np.inf, x.copy())
    if len(t_val):  # to the targets first: the seeded places and sizes
        for _ in range(20):
            x = clamp(x - T_free.T @ ((T @ x - t_val) * t_share))
    x = clamp(x)
    arange_d = np.arange(n_disj)
    always_idx = np.nonzero(always_mask)[0]
    area_d = np.array([a[0] for a in areas], dtype=np.int64)
    area_big = np.array([a[1] for a in areas], dtype=np.int64)
    area_small = np.array([a[2] for a in areas], dtype=np.int64)
    area_num = np.array([a[3] for a in areas], dtype=np.float64)
    area_den = np.array([a[4] for a in areas], dtype=np.float64)

    def exact_broken(grid_point) -> int:
        """What the boxes on the grid break, counted as :meth:`Problem.violations` counts
        (integer arithmetic, so exact)."""
        bad = (A @ grid_point - b_exact) > 0
        count = int(bad[always_idx].sum())
        if n_disj:
            branch_ok = np.append((B @ bad.astype(np.float64)) == 0, False)[table].any(axis=1)
            if len(areas):
                gb = grid_point.reshape(-1, 4)
                fine = area_num * gb[area_small, 2] * gb[area_small, 3] <= area_den * gb[area_big, 2] * gb[area_big, 3]
                branch_ok[area_d] = fine
            count += int((~branch_ok).sum())
        gb = grid_point.reshape(-1, 4)
        for ids, allowed, gap in groups:
            count += len(_near_pairs(gb[ids], gap, allowed)[0])
        return count

    least_w = np.array([spec.min_w for spec in problem.boxes.values()], dtype=np.float64)
    least_h = np.array([spec.min_h for spec in problem.boxes.values()], dtype=np.float64)

    def on_grid(point):
        """The boxes rounded to the grid as :func:`solvers.relax._grid` rounds them (``x0, y0, w,
        h`` flat, in NumPy: at 1,000 boxes a Python loop took 7 ms a check), and a function that
        makes them the ``{name: box}`` answer."""
        box = point.reshape(-1, 4)
        w = np.minimum(W, np.maximum(least_w, np.rint(box[:, 2])))
        h = np.minimum(H, np.maximum(least_h, np.rint(box[:, 3])))
        x0 = np.minimum(W - w, np.maximum(0.0, np.rint(box[:, 0])))
        y0 = np.minimum(H - h, np.maximum(0.0, np.rint(box[:, 1])))
        flat = np.where(fixed, lo, np.stack([x0, y0, w, h], axis=1))

        def answer() -> dict[str, GridBox]:
            return {name: (int(a), int(b), int(a + c), int(b + d)) for name, (a, b, c, d) in zip(names, flat.tolist())}
        return answer, flat.reshape(-1)

    best_exact = (np.inf, None)
    improved_at = 0
    kicks = 0  # in a row, without a new low between
    checked_at = -CHECK_EVERY

    for sweep in range(sweeps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        if settle is not None and sweep >= settle[0] and best_exact[0] <= settle[1]:
            break
        # the boxes grow from a share of their least sizes to all of it, so that they find
        # their order while there is room
        scale = min(1.0, SHRINK + (1 - SHRINK) * sweep / max(1, GROW_SWEEPS))
        floor = np.where(size_cols, flat_lo * scale, flat_lo)
        goal = np.where(t_size, t_val * scale, t_val) if len(t_val) else t_val
        excess = A @ x - b  # > 0: broken by that much
        over = np.maximum(excess, 0.0) * row_weight
        active = always_mask.copy()
        if n_disj:
            # each disjunction: its branch nearest to holding (the current one unless another is
            # clearly nearer)
            score = np.append(B @ over, np.inf)[table]
            current = score[arange_d, chosen]
            pick = np.argmin(score, axis=1)
            switch = score[arange_d, pick] < 0.9 * current - 1e-9
            chosen = np.where(switch, pick, chosen)
            picked = np.zeros(n_branch, dtype=bool)
            picked[table[arange_d, chosen]] = True
            active[b_rows[picked[b_ids]]] = True
        broken_rows = active & (excess > 0) & live
        row_weight = np.where(broken_rows, np.minimum(row_weight * GROWTH, MAX_WEIGHT), 1 + (row_weight - 1) * DECAY)
        wts = np.where(broken_rows, row_weight, 0.0)
        step = wts * np.where(broken_rows, excess * inv_norm2, 0.0)
        delta = -(A_free.T @ step)
        count = A_touch.T @ wts

        # forbidden pairs near each other: found again every few sweeps
        box = x.reshape(-1, 4)
        if sweep % PAIRS_EVERY == 0:
            found = []
            for ids, allowed, gap in groups:
                a, c = _near_pairs(box[ids], REACH + gap, allowed)
                found.append(np.stack([ids[a], ids[c], np.full(len(a), gap)], axis=1))
            pairs = np.concatenate(found) if found else np.zeros((0, 3))
            side = np.full(len(pairs), -1, dtype=np.int64)
        broken_pairs = 0
        if len(pairs):
            i, j, gap = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64), pairs[:, 2] + 2.0
            bi, bj = box[i], box[j]
            # overlap needing removal along each side: i left of j, j left of i, i above j, j above i
            moves = np.stack([bi[:, 0] + bi[:, 2] + gap - bj[:, 0], bj[:, 0] + bj[:, 2] + gap - bi[:, 0],
                              bi[:, 1] + bi[:, 3] + gap - bj[:, 1], bj[:, 1] + bj[:, 3] + gap - bi[:, 1]], axis=1)
            hit = (moves > 0).all(axis=1)
            if hit.any():
                least = np.argmin(moves, axis=1)
                keep = (side >= 0) & (moves[np.arange(len(side)), np.maximum(side, 0)] <= 1.5 * moves.min(axis=1))
                side = np.where(keep, side, least)
                k = np.nonzero(hit)[0]
                s = side[k]
                pw = np.minimum(pair_weight[i[k], j[k]] * GROWTH, MAX_WEIGHT)
                pair_weight[i[k], j[k]] = pw
                first = np.where(s % 2 == 0, i[k], j[k])
                second = np.where(s % 2 == 0, j[k], i[k])
                axis = s // 2
                v = moves[k, s]
                # the half-space first.x0 + first.w + gap <= second.x0 (on ``axis``)
                cf0, cfw, cs0 = 4 * first + axis, 4 * first + axis + 2, 4 * second + axis
                free = movable[cf0].astype(float) + movable[cfw] + movable[cs0]
                share = np.where(free > 0, v / np.maximum(free, 1), 0.0) * pw
                for col, sign in ((cf0, -1.0), (cfw, -1.0), (cs0, 1.0)):
                    delta += np.bincount(col, sign * share * movable[col], minlength=4 * n)
                    count += np.bincount(col, pw * movable[col], minlength=4 * n)
                broken_pairs = len(k)
        broken = int(broken_rows.sum()) + broken_pairs
        grown = scale == 1.0  # before, the least sizes do not hold
        if grown and broken < best[0]:
            best = (broken, x.copy())
            improved_at = sweep
            kicks = 0
        elif grown and KICK_AFTER and sweep - improved_at >= KICK_AFTER and broken:
            if kicks >= MAX_KICKS or best[0] <= enough:
                break  # no new low for this long: perhaps there is no layout, CP-SAT can tell
            kicks += 1
            # stalled: the boxes of what is broken jump a random step of about their size, and
            # their constraints start again from weight 1
            improved_at = sweep
            involved = np.unique(A_touch[broken_rows].indices // 4)
            if broken_pairs:
                involved = np.union1d(involved, np.concatenate([first, second]))
            involved = involved[~fixed[involved, 0]]
            boxes_now = x.reshape(-1, 4)
            jump = rng.uniform(-KICK, KICK, (len(involved), 2)) * boxes_now[involved, 2:4]
            boxes_now[involved, :2] += jump
            cols_of = (4 * involved[:, None] + np.arange(4)[None, :]).ravel()
            row_weight[np.unique(A_touch[:, cols_of].nonzero()[0])] = 1.0
            if pair_weight is not None:
                pair_weight[involved, :] = 1.0
                pair_weight[:, involved] = 1.0
            x = clamp(boxes_now.reshape(-1))
            continue
        if grown and (broken <= best[0] and sweep - checked_at >= CHECK_EVERY or broken == 0):
            checked_at = sweep
            grid, flat = on_grid(x)
            found = exact_broken(flat)
            if found < best_exact[0]:
                best_exact = (found, grid)
            if found == 0:
                return grid(), 0
        x = x + RELAXATION * delta / np.maximum(count, 1e-9) * (count > 0)
        pull = PULL * 0.5 ** (sweep / PULL_HALF_LIFE)
        if len(t_val) and pull > 1e-3:
            miss = (T @ x - goal) * t_share * t_weight * pull
            x = x - T_free.T @ miss
        x = clamp(x)
    grid, flat = on_grid(best[1])
    found = exact_broken(flat)
    if found < best_exact[0]:
        best_exact = (found, grid)
    return best_exact[1](), best_exact[0]


def _near_pairs(box, reach: float, allowed):
    """Pairs ``(a, c)`` of rows of ``box`` (x0, y0, w, h) that overlap when grown by ``reach``
    (strictly: boxes ``reach`` apart do not), less the ``allowed`` ones (codes ``a * n + c``,
    ``a < c``, sorted): sweep and prune along x.

    >>> import numpy as np
    >>> box = np.array([[0, 0, 10, 10], [12, 0, 10, 10], [50, 0, 10, 10]], dtype=float)
    >>> [tuple(map(int, v)) for v in _near_pairs(box, 3.0, np.zeros(0, dtype=np.int64))]
    [(0,), (1,)]
    >>> [len(v) for v in _near_pairs(box, 2.0, np.zeros(0, dtype=np.int64))]
    [0, 0]
    """
    import numpy as np

    k = len(box)
    order = np.argsort(box[:, 0], kind="stable")
    x0 = box[order, 0]
    end = np.searchsorted(x0, x0 + box[order, 2] + reach, side="left")
    counts = np.maximum(0, end - np.arange(k) - 1)
    total = int(counts.sum())
    first = np.repeat(np.arange(k), counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    second = first + 1 + offset
    a, c = order[first], order[second]
    y0a, y0c = box[a, 1], box[c, 1]
    keep = (np.minimum(y0a + box[a, 3], y0c + box[c, 3]) - np.maximum(y0a, y0c)) > -reach
    # ties in x0: a box that starts exactly where another ends plus reach is not near it
    keep &= (np.minimum(x0[first] + box[a, 2], x0[second] + box[c, 2]) - x0[second]) > -reach
    a, c = a[keep], c[keep]
    lo, hi = np.minimum(a, c), np.maximum(a, c)
    if len(allowed):
        code = lo * k + hi
        at = np.minimum(np.searchsorted(allowed, code), len(allowed) - 1)
        free = allowed[at] != code
        lo, hi = lo[free], hi[free]
    return lo, hi


__all__ = ["projected_layout"]
