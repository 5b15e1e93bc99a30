"""The ``local`` engine: items run in this process, or in spawned worker processes."""

from __future__ import annotations

from typing import Any

from compose.batch.engines import Engine, configure_threads, current_threads, default_threads, setup_task, worker_died
from compose.batch.items import BatchItem, ItemError, run_item
from compose.errors import UsageError


class LocalEngine(Engine):
    """Items run here: in this process (``workers=1``) or in ``workers`` spawned processes.

    Parameters
    ----------
    workers : int
        Processes. With one, the task runs in this process, in queue order; with more, the task
        is pickled to each worker process once (``setup()`` runs there) and items are handed out
        as workers free up, at most ``2 * workers`` in flight.
    threads : int, optional
        Torch threads per worker (default :func:`default_threads`). With one worker that is this
        process, whose torch thread count is set for the run and restored after.
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int | None = None) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise UsageError("E006", argument="workers", value=workers, expected="a whole number, 1 or more")
        self.workers = workers
        self.threads = threads if threads is not None else default_threads(workers)

    def describe(self) -> str:
        return f"local, {self.workers} worker(s)" + (f", {self.threads} thread(s) each" if self.threads else "")

    def run(self, task, items):
        if self.workers == 1:
            yield from self._run_here(task, items)
        else:
            yield from self._run_pool(task, items)

    def _run_here(self, task, items):
        if not items:
            return
        restore = current_threads()
        configure_threads(self.threads)
        try:
            try:
                setup_task(task)
            except Exception as exc:  # noqa: BLE001 - a setup failure fails every item, with its reason
                error = ItemError.from_exception(exc)
                for item in items:
                    yield item, None, error
                return
            for item in items:
                configure_threads(self.threads)
                output, error = run_item(task, item)
                yield item, output, error
        finally:
            if restore is not None:
                configure_threads(restore)

    def _run_pool(self, task, items):
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = list(items)
        queue.reverse()  # pop() from the end takes items in order

        def new_pool():
            # spawn, not fork: the parent may hold torch's thread pools, which do not survive a fork
            return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init, initargs=(task, self.threads))

        pool = new_pool()
        in_flight: dict[Any, BatchItem] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < 2 * self.workers:
                    item = queue.pop()
                    in_flight[pool.submit(_worker_run, item)] = item
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    item = in_flight.pop(future)
                    try:
                        output, error = future.result()
                    except BrokenProcessPool:
                        broken = True
                        output, error = None, worker_died(item, "the process ended (killed, or out of memory)",
                                                          "BrokenProcessPool")
                    except Exception as exc:  # noqa: BLE001 - e.g. an output that cannot be pickled
                        output, error = None, ItemError.from_exception(exc)
                    yield item, output, error
                if broken:  # every other item in flight is lost with the pool: queue them again
                    queue.extend(in_flight.values())
                    in_flight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = new_pool()
        finally:
            pool.shutdown(wait=not in_flight, cancel_futures=True)


_WORKER: dict[str, Any] = {}


def _worker_init(task, threads) -> None:
    configure_threads(threads, environment=True)
    _WORKER["task"] = task
    _WORKER["threads"] = threads
    try:
        setup_task(task)
    except Exception as exc:  # noqa: BLE001 - reported on each item this worker is given
        _WORKER["setup_error"] = ItemError.from_exception(exc)


def _worker_run(item: BatchItem):
    if "setup_error" in _WORKER:
        return None, _WORKER["setup_error"]
    configure_threads(_WORKER["threads"])
    return run_item(_WORKER["task"], item)
