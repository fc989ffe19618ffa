"""The same scan tasks on a Dask distributed cluster (``--scheduler ADDRESS``).

Workers must see the data directory at the same path (shared disk), since each loads the engine
index from it. A ``WorkerPlugin`` loads it when the worker joins, so no task pays for it; the task
itself only looks the engine up in ``workers.task``'s per-process cache.

The plugin also pauses Dask's statistical profiler on the workers while it is registered: sampling
every thread's stack every 10 ms cost these short CPU-bound tasks 10-15 % of their throughput at
two workers on two cores (BENCHMARKS.md, section 2). Closing the runner unregisters the plugin,
which restarts it.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import CancelledError
from types import TracebackType
from typing import Any

from distributed import Client, Future, WorkerPlugin, wait

from workers.task import Item, Result, WorkerContext, analyse_chunk, warm_up

__all__ = ["DaskRunner", "EngineLoader"]


# The worker's periodic callbacks that run its statistical profiler (distributed.worker.Worker).
PROFILER_CALLBACKS = ("profile", "profile-cycle")


class SchedulerLost(ConnectionError):
    """The cluster went away mid-scan (an OSError, so the CLI says it in one line)."""


class EngineLoader(WorkerPlugin):
    """Warms each worker's engine cache once, at setup (and on workers that join later)."""

    name = "rights-engine-loader"

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self._paused: dict[str, Any] = {}

    def setup(self, worker: Any) -> None:
        warm_up(self.ctx)
        for name in PROFILER_CALLBACKS:
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
                self._paused[name] = callback

    def teardown(self, worker: Any) -> None:
        for name, callback in self._paused.items():
            worker.periodic_callbacks[name] = callback
            callback.start()
        self._paused.clear()


class DaskRunner:
    """Same interface as :class:`workers.local_pool.LocalPool`."""

    def __init__(self, ctx: WorkerContext, address: str | Client) -> None:
        self.ctx = ctx
        self._own = not isinstance(address, Client)
        self.client = Client(address) if isinstance(address, str) else address
        # The plugin name makes re-registration (a second scan on the same cluster) replace, not stack.
        self.client.register_plugin(EngineLoader(ctx), name=f"{EngineLoader.name}")
        self._pending: set[Future] = set()

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(cancel=exc_type is not None)

    def submit(self, chunk: list[Item]) -> None:
        # pure=False: two identical chunks (a re-run) are still computed, not served from Dask's cache.
        self._pending.add(self.client.submit(analyse_chunk, chunk, self.ctx, pure=False))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def wait(self) -> list[list[Result]]:
        try:
            done, not_done = wait(list(self._pending), return_when="FIRST_COMPLETED")
            self._pending = set(not_done)
            return [f.result() for f in done]
        except CancelledError as exc:  # the scheduler went away: every task it held is cancelled
            raise SchedulerLost(
                f"the Dask scheduler stopped answering during the scan ({type(exc).__name__}); "
                "what is done is kept: run the same command again to resume"
            ) from exc

    def close(self, *, cancel: bool = False) -> None:
        if cancel and self._pending:
            self.client.cancel(list(self._pending))
        self._pending.clear()
        # Gives the workers their profiler back; the engine stays in their per-process cache.
        with contextlib.suppress(ValueError, OSError):  # already gone, or the cluster with it
            self.client.unregister_worker_plugin(EngineLoader.name)
        if self._own:
            self.client.close()

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))
