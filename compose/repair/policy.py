"""The escalation policy: which repair the next round tries, from what failed and what was tried.

Per instance the loop counts repair attempts; a round's strategy follows the most-tried instance
it would repair:

1. ``zoom``: zoomed repaint of the failing regions (a first try; relation failures are already
   re-placed by the plan);
2. ``zoom+boost``: the same with fresh noise, stronger guidance (x :data:`BOOST_GUIDANCE`) and
   more steps (x :data:`BOOST_STEPS`): what a model that *almost* draws the object needs;
3. ``replace``: the instances still failing move (solver, every other box held) and are
   repainted zoomed in their new place;
4. ``fresh``: a new layout and render, best-of-N's move, as the last resort: when the plan has
   nothing to repair, the solver finds no other place, or the best score has not improved for
   :data:`PATIENCE` rounds.

Where the detector gives masks (the embedded world's), the first try is ``layer``
(:mod:`compose.repair.layer`: the instance drawn alone and composited in z-order, up to four
instances on one sprite sheet). A second layered round follows only when the first made the best
image better (a counting scene often needs two: the first fixes most instances, the second the
few the composite leaves); otherwise, and after :data:`LAYER_TRIES`, the next round is ``fresh``.
A fresh image that beats the best is layered in turn; one that does not leaves the old best, with
its history, as the image to repair, so the rounds after it are fresh again (best-of-N from
there). The loop's *n*-th fresh layout uses best-of-N's *n*-th seed, so at any budget the loop
has drawn a prefix of best-of-N's candidates plus its repairs.

A sprite sheet is cheap (:func:`compose.repair.layer.sprite_settings`: a third of the render's
steps, 8 of a render's 24 NFE on the embedded model), so a layered round costs a third of a
render, and two of them cost less than one fresh seed. ``replace``
(re-placement by the solver) is not in the layered chain: on the tuning scenes it fixed 2 of
about 25 failures it was tried on, where a fresh layout fixed about one in three.

The loop keeps the best image so far (by hard checks passed, then their mean score): a round
that makes things worse is recorded and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Guidance and step multipliers of a boosted round.
BOOST_GUIDANCE = 1.6
BOOST_STEPS = 1.25
#: Rounds without a better score before the loop starts over with a fresh layout.
PATIENCE = 3
#: Layered rounds an instance gets before a fresh layout: the second only when the first made
#: the best image better.
LAYER_TRIES = 2


@dataclass
class Step:
    """One round's choice: a strategy name and its knobs."""

    name: str
    guidance_factor: float = 1.0
    steps_factor: float = 1.0
    move: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {"strategy": self.name}
        if self.guidance_factor != 1.0 or self.steps_factor != 1.0:
            out.update(guidance_factor=self.guidance_factor, steps_factor=self.steps_factor)
        if self.move:
            out["move"] = list(self.move)
        return out


def plan_instances(plan) -> list[str]:
    """Instances a plan draws (its regions that are not background)."""
    return sorted({r.instance for r in plan.regions if r.instance is not None}) if plan is not None else []


def plan_keys(plan) -> list[str]:
    """What a plan repairs, as attempt keys: its instances, and each region it clears to
    background (by its rounded box, so an extra object that comes back in the same place counts
    as the same failure)."""
    if plan is None:
        return []
    keys = set(plan_instances(plan))
    keys.update("clear:" + ",".join(f"{v:.1f}" for v in r.box) for r in plan.regions
                if r.instance is None and not r.reason.startswith(("relation", "re-placed")))
    return sorted(keys)


def choose_step(plan, attempts: dict[str, int], stagnant: int, *, layered: bool = False) -> Step:
    """The next round's :class:`Step` for ``plan`` (from :func:`compose.repaint.plan_repaint`),
    given ``attempts`` per instance so far and ``stagnant`` rounds without improvement;
    ``layered`` when the detector gives masks, so :mod:`compose.repair.layer` can be used."""
    if plan is None or stagnant >= PATIENCE:
        return Step("fresh")
    instances = plan_instances(plan)
    tried = max((attempts.get(i, 0) for i in plan_keys(plan)), default=0)
    if layered:
        # a second layered try only where the first made progress (the image it repairs is the
        # one that try made); a try that changed nothing is not worth repeating
        if tried == 0 or (tried < LAYER_TRIES and stagnant == 0):
            return Step("layer")
        return Step("fresh")
    if tried == 0:
        return Step("zoom")
    if tried == 1:
        return Step("zoom+boost", guidance_factor=BOOST_GUIDANCE, steps_factor=BOOST_STEPS)
    move = [i for i in instances if attempts.get(i, 0) >= 2 and i not in plan.moved]
    return Step("replace", move=move) if move else Step("zoom+boost", guidance_factor=BOOST_GUIDANCE,
                                                          steps_factor=BOOST_STEPS)
