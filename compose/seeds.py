"""The seed rule every stage follows: the seed given, else the scene's (or layout's), else 0.

Seeds are whole numbers in ``0 .. 2**63 - 1`` (what numpy, torch and CP-SAT all accept); anything
else is a coded usage error rather than an overflow deep inside a generator.

Examples
--------
>>> resolve_seed(5, None), resolve_seed(None, 7), resolve_seed(None, None)
(5, 7, 0)
>>> resolve_seed(-1, None)
Traceback (most recent call last):
...
compose.errors.UsageError: E006: invalid value for seed: -1; expected a whole number from 0 to 9223372036854775807
"""

from __future__ import annotations

from typing import Any

from compose.errors import UsageError

#: The largest seed: numpy's, torch's and CP-SAT's generators all take 63-bit seeds.
MAX_SEED = 2**63 - 1


def check_seed(seed: Any, argument: str = "seed") -> int:
    """``seed`` as an ``int``, or E006 naming ``argument`` when it is not a seed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError("E006", argument=argument, value=seed,
                         expected=f"a whole number from 0 to {MAX_SEED}")
    return int(seed)


def resolve_seed(seed: int | None, own: int | None, default: int = 0, *, argument: str = "seed") -> int:
    """The seed to use: ``seed`` when given, else ``own`` (the scene's or layout's), else
    ``default``; checked with :func:`check_seed`."""
    chosen = seed if seed is not None else (own if own is not None else default)
    return check_seed(chosen, argument)
