"""The limits every input is held to, in one place, each with the coded error that enforces it.

Each limit is checked before the work it bounds starts (a scene's instance count before anything
is expanded, an image's size before it is decoded, a run's options before its first item), so no
input makes the project run out of memory or time: it gets an error that names the limit. They
are listed, with their codes, in ``docs/limits.md``.

Examples
--------
>>> check_run_options(steps=4, guidance=2.0, max_rounds=3)
>>> check_run_options(steps=0)
Traceback (most recent call last):
...
compose.errors.UsageError: E006: invalid value for --steps: 0; expected a whole number from 1 to 1000
"""

from __future__ import annotations

import math
from typing import Any

from compose.errors import UsageError
from compose.io import MAX_IMAGE_PIXELS, MAX_INPUT_BYTES, MAX_NUMBER_DIGITS  # noqa: F401 - listed here too

#: Instances in a scene, all groups together (counted from the declared counts, before expansion;
#: a ranged count counts its maximum). E116.
MAX_INSTANCES = 1_000
#: Relations between instances a scene's statements expand to (a group statement is one relation
#: per instance pair, or triple for ``between``). E116.
MAX_RELATIONS = 5_000
#: Pixels of a scene's canvas (width x height; each side is also 8..16384). E116.
MAX_CANVAS_PIXELS = 2048 * 2048
#: Conflicting statements an infeasible layout's explanation (E301) lists; the rest are counted.
MAX_CONFLICTS_SHOWN = 20
#: Repaint rounds after the first render. E006.
MAX_ROUNDS = 100
#: Denoising steps. E006.
MAX_STEPS = 1000
#: Seconds one batch item may run by default (``--item-timeout``). E607.
DEFAULT_ITEM_TIMEOUT = 900.0


def _bad(argument: str, value: Any, expected: str) -> UsageError:
    return UsageError("E006", argument=argument, value=value, expected=expected)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_seconds(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and value > 0)


def check_run_options(*, steps: Any = None, guidance: Any = None, max_rounds: Any = None, threads: Any = None,
                      workers: Any = None, limit: Any = None, item_timeout: Any = None, device: Any = None,
                      time_limit: Any = None, prefix: str = "--") -> None:
    """Check a run's options once, before any work: E006 (exit 2) naming the first bad one.

    ``None`` means "not given" for each. ``device`` ``cuda`` (or ``cuda:N``) is refused when
    torch sees no CUDA device, rather than failing inside the first render.
    """
    def name(option: str) -> str:
        return prefix + option.replace("_", "-") if prefix == "--" else option

    if steps is not None and not (_whole(steps) and 1 <= steps <= MAX_STEPS):
        raise _bad(name("steps"), steps, f"a whole number from 1 to {MAX_STEPS}")
    if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float))
                                 or not math.isfinite(guidance) or not 0 <= guidance <= 100):
        raise _bad(name("guidance"), guidance, "a number from 0 to 100")
    if max_rounds is not None and not (_whole(max_rounds) and 0 <= max_rounds <= MAX_ROUNDS):
        raise _bad(name("max_rounds"), max_rounds, f"a whole number from 0 to {MAX_ROUNDS}")
    if threads is not None and not (_whole(threads) and 1 <= threads <= 1024):
        raise _bad(name("threads"), threads, "a whole number from 1 to 1024")
    if workers is not None and not (_whole(workers) and 1 <= workers <= 1024):
        raise _bad(name("workers"), workers, "a whole number from 1 to 1024")
    if limit is not None and not (_whole(limit) and limit >= 0):
        raise _bad(name("limit"), limit, "a whole number, 0 or more")
    for option, seconds in (("item_timeout", item_timeout), ("time_limit", time_limit)):
        if seconds is not None and not _positive_seconds(seconds):
            raise _bad(name(option), seconds, "a positive number of seconds")
    if device is not None:
        check_device(device, argument=name("device"))


def check_device(device: Any, argument: str = "--device") -> None:
    """E006 for a device that is not ``cpu``, ``mps`` or ``cuda[:N]``, or a CUDA device that
    this machine does not have."""
    text = str(device)
    if not isinstance(device, str) or not (text in ("cpu", "mps", "cuda") or
                                           (text.startswith("cuda:") and text[5:].isdigit())):
        raise _bad(argument, device, "cpu, mps, cuda or cuda:N")
    if text.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(text[5:]) if ":" in text else 0
        if index >= count:
            raise _bad(argument, device, f"a device this machine has (torch sees {count} CUDA device(s))")
    if text == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise _bad(argument, device, "a device this machine has (torch sees no MPS device)")

