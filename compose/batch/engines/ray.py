"""The ``ray`` engine: one Ray actor per worker, each holding one copy of the task (one loaded
backbone), on a local Ray instance or on a cluster.

Plain actors, not Ray Data: each actor takes items one at a time from the driver (at most two
queued per actor, so a slow item never holds up the others), and each outcome comes straight back
to the driver, which writes it. ``benchmarks/bench_batch.py`` measures this against Ray Data's
``map_batches`` with an actor pool; see ``docs/scale.md``.

On a GPU cluster each actor asks for ``gpus_per_worker`` GPUs (default: 1 when the cluster has
GPUs), so there is one actor per GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` for it and the backbone's
``cuda`` device is that GPU. Without GPUs each actor asks for ``threads`` CPUs.

Ray is imported only here, when the engine is made; without it the engine raises E603 with the
install command.
"""

from __future__ import annotations

from typing import Any

from compose.batch.engines import (
    Engine,
    configure_threads,
    default_threads,
    run_item_limited,
    setup_failed,
    setup_task,
    worker_died,
)
from compose.batch.items import ItemError
from compose.errors import UsageError

#: What to install for this engine.
INSTALL = 'pip install "compose-scenes[ray]"  (or: pip install "ray[default]>=2.9")'


def import_ray():
    """The ``ray`` module, or E603 saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError("E603", name="ray", package="ray", install=INSTALL) from exc
    return ray


class RayEngine(Engine):
    """Items run on Ray actors.

    Parameters
    ----------
    workers : int, optional
        Actors (default: the cluster's GPUs when it has any, else its CPUs).
    address : str, optional
        A running cluster to join (``ray start --head`` prints it; ``"auto"`` finds a local one).
        Default: the Ray instance this process already started, else a new local one (stopped
        again by :meth:`close`).
    threads : int, optional
        Torch threads (and CPUs asked for) per actor; default: the CPUs shared among actors.
    gpus_per_worker : float, optional
        GPUs each actor asks for (default 1 on a cluster with GPUs, else 0).
    num_cpus : int, optional
        CPUs of a new local instance (default: all).
    item_timeout : float, optional
        Seconds an item may run on its actor (E607 past it, and the actor goes on with the next
        item); default no limit.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, threads: int | None = None,
                 gpus_per_worker: float | None = None, num_cpus: int | None = None,
                 item_timeout: float | None = None) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise UsageError("E006", argument="workers", value=workers, expected="a whole number, 1 or more")
        self.item_timeout = item_timeout
        self.ray = import_ray()
        self._started = False
        if address is not None:
            if self.ray.is_initialized():
                self.ray.shutdown()
            self.ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            self._started = True
        elif not self.ray.is_initialized():
            self.ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
            self._started = True
        resources = self.ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
        self.gpus_per_worker = float(gpus_per_worker if gpus_per_worker is not None else (1 if gpus else 0))
        self.workers = workers or (gpus if self.gpus_per_worker and gpus else cpus) or 1
        self.threads = threads or default_threads(self.workers, cpus)

    def describe(self) -> str:
        gpus = f", {self.gpus_per_worker:g} GPU(s) each" if self.gpus_per_worker else ""
        return f"ray, {self.workers} actor(s), {self.threads} thread(s) each{gpus}"

    def run(self, task, items):
        ray = self.ray
        if not items:
            return
        actor_class = ray.remote(BatchActor).options(num_cpus=self.threads, num_gpus=self.gpus_per_worker)
        task_ref = ray.put(task)
        actors = [actor_class.remote(task_ref, self.threads, self.item_timeout)
                  for _ in range(min(self.workers, len(items)))]
        queue = list(items)
        queue.reverse()
        in_flight: dict[Any, tuple[Any, Any]] = {}  # object ref -> (actor, item)
        load = {id(a): 0 for a in actors}
        try:
            while queue or in_flight:
                for actor in list(actors):
                    while queue and load[id(actor)] < 2:
                        item = queue.pop()
                        in_flight[actor.run.remote(item)] = (actor, item)
                        load[id(actor)] += 1
                if not in_flight:  # every actor died: nothing can run the rest
                    while queue:
                        item = queue.pop()
                        yield item, None, worker_died(item, "no Ray actor is left", "RayActorError")
                    break
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                actor, item = in_flight.pop(ref)
                load[id(actor)] -= 1
                try:
                    output, error = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    output, error = None, worker_died(item, f"its Ray actor died ({exc})", "RayActorError")
                    if actor in actors:  # replace it; its other queued item fails the same way
                        actors.remove(actor)
                        fresh = actor_class.remote(task_ref, self.threads, self.item_timeout)
                        actors.append(fresh)
                        load[id(fresh)] = 0
                except ray.exceptions.RayError as exc:
                    output, error = None, ItemError.from_exception(exc)
                yield item, output, error
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=False)
            for actor in actors:
                ray.kill(actor)

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False


class BatchActor:
    """One worker: the task set up once (one loaded backbone), then items one by one."""

    def __init__(self, task, threads: int | None, item_timeout: float | None = None) -> None:
        configure_threads(threads, environment=True)
        self.threads = threads
        self.item_timeout = item_timeout
        self.task = task
        self.setup_error: ItemError | None = None
        try:
            setup_task(task)
        except Exception as exc:  # noqa: BLE001 - reported on the first item; the runner stops the run
            self.setup_error = setup_failed(exc)

    def run(self, item):
        if self.setup_error is not None:
            return None, self.setup_error
        configure_threads(self.threads)
        # a plain (synchronous) actor runs its methods on its process' main thread, where the
        # timer signal of run_item_limited can interrupt a stuck item
        return run_item_limited(self.task, item, self.item_timeout)
