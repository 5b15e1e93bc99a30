"""Layout solvers: a small problem model of boxes and constraints, and backends that solve it.

The package knows nothing of prompts, scenes or images; :mod:`compose.placement` turns a scene
into a :class:`Problem`. Backends are registered by name; ``cp-sat`` (OR-Tools) is the default.

>>> p = Problem(100, 100)
>>> a, b = p.add_box("a", min_size=(20, 20)), p.add_box("b", min_size=(20, 20))
>>> p.require(a.x1 + 10 <= b.x0, tag="a left of b")
>>> p.no_overlap(["a", "b"])
>>> s = solve(p, seed=0)
>>> s.boxes["a"][2] + 10 <= s.boxes["b"][0]
True
"""

from __future__ import annotations

from collections.abc import Callable

from compose.errors import LayoutError

from .model import AnyOf, BoxRef, Expr, Linear, Problem, Solution

#: Solver backends by name: each a factory of an object with ``solve(problem, seed=, time_limit=,
#: explain=)`` and ``explain(problem, time_limit=)``; one whose ``quick_starts`` is true also takes
#: ``quick=`` and ``guide=`` (:class:`~solvers.cpsat.CpSatBackend`).
BACKENDS: dict[str, Callable[[], object]] = {}


def register_backend(name: str, factory: Callable[[], object]) -> None:
    """Make a backend available as ``solve(..., backend=name)``."""
    BACKENDS[name] = factory


def get_backend(name: str):
    """The backend registered as ``name``; raises ``LayoutError`` E303 for an unknown name."""
    if name not in BACKENDS:
        raise LayoutError("E303", name=name, expected=", ".join(sorted(BACKENDS)))
    return BACKENDS[name]()


def solve(problem: Problem, *, seed: int = 0, time_limit: float = 10.0, backend: str = "cp-sat",
          explain: bool = True) -> Solution:
    """Solve ``problem``: boxes that meet every hard constraint and as many soft terms as it can.

    Raises ``InfeasibleLayoutError`` (E301) naming the conflicting tags, or ``LayoutError``
    (E302) when ``time_limit`` seconds pass without a layout.
    """
    return get_backend(backend).solve(problem, seed=seed, time_limit=time_limit, explain=explain)


def _cp_sat():
    from .cpsat import CpSatBackend

    return CpSatBackend()


def _cp_sat_exact():
    from .cpsat import CpSatBackend

    return CpSatBackend(exact=True)


register_backend("cp-sat", _cp_sat)
register_backend("cp-sat-exact", _cp_sat_exact)

__all__ = [
    "BACKENDS",
    "AnyOf",
    "BoxRef",
    "Expr",
    "Linear",
    "Problem",
    "Solution",
    "get_backend",
    "register_backend",
    "solve",
]
