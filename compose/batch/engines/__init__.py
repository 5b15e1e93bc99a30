"""Engines: where a batch's items run. One interface, registered by name.

An engine takes a task (``task(item) -> row``, optionally with ``setup()`` run once per worker
before its first item, e.g. to load a backbone) and a list of :class:`~compose.batch.items.BatchItem`,
and yields ``(item, output, error)`` as each item finishes (``error`` an
:class:`~compose.batch.items.ItemError`, else ``None``). It never writes anything: the batch runner
(:func:`compose.batch.runner.run_batch`), in the calling process, does.

- ``local``: in this process (``workers=1``), or ``workers`` processes (spawned, one task copy
  and one loaded model each);
- ``ray``: one Ray actor per worker (per GPU on a GPU cluster), on a local Ray instance or on a
  cluster (``address``); Ray is an optional extra (E603 without it).

Each worker sets its torch thread count to ``threads`` (default: the machine's CPUs shared
evenly among the workers), so the same command gives the same numbers on either engine.

Examples
--------
>>> from compose.batch import BatchItem
>>> engine = get_engine("local")
>>> [(item.id, out, err) for item, out, err in engine.run(lambda item: {"twice": 2 * item.payload},
...                                                       [BatchItem("a", 1), BatchItem("b", 2)])]
[('a', {'twice': 2}, None), ('b', {'twice': 4}, None)]
>>> get_engine("spark")
Traceback (most recent call last):
...
compose.errors.UsageError: E602: unknown engine 'spark'; expected one of local, ray
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing.Self is Python 3.11+
    from typing_extensions import Self

from compose.batch.items import BatchItem, ItemError
from compose.errors import UsageError
from compose.registry import Registry

Outcome = tuple[BatchItem, Any, "ItemError | None"]

#: Engine name -> "module:Class"; modules are imported only when asked for.
ENGINES = Registry("engine", UsageError, "E602")
ENGINES.register("local", "compose.batch.engines.local:LocalEngine")
ENGINES.register("ray", "compose.batch.engines.ray:RayEngine")


class Engine:
    """Base of engines: :meth:`run` yields outcomes as items finish; :meth:`close` lets go of
    whatever the engine started (a Ray instance)."""

    name = ""

    def run(self, task: Callable[[BatchItem], Any], items: Sequence[BatchItem]) -> Iterator[Outcome]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get_engine(name: str = "local", **options: Any) -> Engine:
    """The engine registered as ``name`` with its options; E602 for an unknown name."""
    return ENGINES.get(name)(**options)


def default_threads(workers: int, cpus: int | None = None) -> int:
    """Torch threads per worker: the CPUs shared evenly, at least one.

    >>> default_threads(1, cpus=8), default_threads(3, cpus=8), default_threads(16, cpus=8)
    (8, 2, 1)
    """
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


def configure_threads(threads: int | None, *, environment: bool = False) -> None:
    """Pin this process's torch thread count (and, in a worker process of its own, the
    OpenMP/MKL variables, which torch reads when it is first imported); a no-op for ``None``.

    Results of CPU kernels depend on how reductions are split among threads (the embedded
    model's images do), so every worker of an engine runs with the same count. Torch is not
    imported here: a task that never needs it does not pay for it. Engines call this again
    before every item, for tasks that import torch along the way.
    """
    if not threads:
        return
    if environment:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))


def current_threads() -> int | None:
    """This process's torch thread count, or ``None`` when torch is not imported."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def worker_died(item: BatchItem, reason: str, kind: str) -> ItemError:
    """The error of an item whose worker died under it (E605)."""
    from compose.errors import Errors

    return ItemError("E605", Errors.E605.format(item=item.id, reason=reason), kind)


class ItemTimeout(BaseException):
    """An item ran past its time limit (raised inside the task by a timer signal). Not an
    ``Exception``: the task's own ``except Exception`` (and :func:`run_item`'s) must not catch it."""


def run_item_limited(task: Callable[[BatchItem], Any], item: BatchItem,
                     seconds: float | None) -> tuple[Any, ItemError | None]:
    """:func:`~compose.batch.items.run_item` with a time limit: past ``seconds`` the task is
    interrupted (a ``SIGALRM`` timer, in this process's main thread) and the item's error is
    E607. Without a limit, or off the main thread, it is ``run_item`` as it is."""
    import signal
    import threading

    from compose.batch.items import run_item

    if not seconds or threading.current_thread() is not threading.main_thread():
        return run_item(task, item)

    def expired(signum, frame):
        raise ItemTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        try:
            return run_item(task, item)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except ItemTimeout:
        from compose.errors import Errors

        return None, ItemError("E607", Errors.E607.format(item=item.id, seconds=seconds), "ItemTimeout")
    finally:
        signal.signal(signal.SIGALRM, previous)


def setup_failed(exc: BaseException) -> ItemError:
    """The error of a task whose ``setup()`` raised: marked ``setup``, so the runner stops the
    run with it (a run-level error) instead of writing it as every item's row."""
    error = ItemError.from_exception(exc)
    error.setup = True  # kept through pickling: exceptions pickle their __dict__
    return error


def die_with_parent(parent: int) -> None:
    """Make this (worker) process receive SIGKILL when its parent dies, however it dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``); if the parent is already gone, exit now. Elsewhere a
    no-op: the pool's own shutdown is all there is."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the prctl took hold
        os._exit(1)


def setup_task(task: Any) -> None:
    """Run a task's ``setup()`` if it has one (once per worker, before its first item)."""
    setup = getattr(task, "setup", None)
    if callable(setup):
        setup()
