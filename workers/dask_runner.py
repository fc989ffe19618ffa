"""The same scan tasks on a Dask distributed cluster (``--scheduler ADDRESS``).

Workers that see the data directory at the same path (a shared disk) load the engine index from
it: a ``WorkerPlugin`` loads it when the worker joins, so no task pays for it; the task itself
only looks the engine up in ``workers.task``'s per-process cache. Workers on machines without
that disk (found by asking each worker at start) are sent what they cannot read: the index's
files once, scattered to every worker (peers pass them on to workers that join later), and each
local image's bytes with its task. Each such worker writes the index to a local folder and loads
it on its first task.

The plugin also pauses Dask's statistical profiler on the workers while it is registered: sampling
every thread's stack every 10 ms cost these short CPU-bound tasks 10-15 % of their throughput at
two workers on two cores (BENCHMARKS.md, section 2). Closing the runner unregisters the plugin,
which restarts it.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import CancelledError
from pathlib import Path
from types import TracebackType
from typing import Any

from distributed import Client, Future, WorkerPlugin, wait

from indexes.index_copy import snapshot_index, snapshot_size
from workers.task import Item, Result, WorkerContext, analyse_chunk, sees_index, warm_up, with_local_bytes

__all__ = ["DaskRunner", "EngineLoader"]


# The worker's periodic callbacks that run its statistical profiler (distributed.worker.Worker).
PROFILER_CALLBACKS = ("profile", "profile-cycle")
# How long a scan waits for a first worker to ask whether it reads the data directory.
WORKER_WAIT_S = 30.0
# Largest index sent to workers that cannot read the data directory: each such worker holds the
# files in memory while the scan runs, besides the engine loaded from them (~26 kB a work).
MAX_SENT_INDEX_BYTES = 2 * 2**30


class IndexTooLargeToSend(OSError):
    """The workers cannot read the data directory, and its index is too large to send them."""


class SchedulerLost(ConnectionError):
    """The cluster went away mid-scan (an OSError, so the CLI says it in one line)."""


class EngineLoader(WorkerPlugin):
    """Warms each worker's engine cache once, at setup (and on workers that join later)."""

    name = "rights-engine-loader"

    def __init__(self, ctx: WorkerContext, *, warm: bool = True) -> None:
        self.ctx = ctx
        self.warm = warm  # False where workers get the index sent: their first task loads it
        self._paused: dict[str, Any] = {}

    def setup(self, worker: Any) -> None:
        if self.warm:
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

    # Listings per task: twice the local pool's, since each Dask task also costs the scheduler
    # and the client a few ms. At two workers on two cores that time is taken from the workers:
    # 3,000-listing scans, six pairs, 97.7 -> 101.8 listings/s on average (BENCHMARKS.md, section 2).
    chunk_size = 16

    def __init__(self, ctx: WorkerContext, address: str | Client, *, send_index: bool | None = None) -> None:
        """``send_index``: send the index and local images to the workers; by default, only when
        some worker does not read the index at ``ctx.index_dir`` as this process saved it."""
        self._own = not isinstance(address, Client)
        self.client = Client(address) if isinstance(address, str) else address
        try:
            if send_index is None:
                # A cluster still starting has no worker to ask yet; without one, the index is sent.
                with contextlib.suppress(TimeoutError):
                    self.client.wait_for_workers(1, timeout=WORKER_WAIT_S)
                seen = self.client.run(sees_index, ctx.index_dir, ctx.index_version)
                send_index = not seen or not all(seen.values())
            self.sends_index = send_index
            self._sent: Future | None = None
            self.ctx = ctx
            # The plugin name makes re-registration (a second scan on the same cluster) replace, not stack.
            self.client.register_plugin(EngineLoader(ctx, warm=not send_index), name=f"{EngineLoader.name}")
        except BaseException:
            if self._own:
                self.client.close()
            raise
        self._pending: set[Future] = set()

    @property
    def ctx(self) -> WorkerContext:
        return self._ctx

    @ctx.setter
    def ctx(self, ctx: WorkerContext) -> None:
        """A newer index (a scan service's next scan) is sent again to workers that get it sent."""
        previous = getattr(self, "_ctx", None)
        self._ctx = ctx
        if self.sends_index and (previous is None or previous.index_version != ctx.index_version):
            self._sent = self._send(ctx)

    def _send(self, ctx: WorkerContext) -> Future:
        folder = Path(ctx.index_dir)
        size = snapshot_size(folder)
        if size > MAX_SENT_INDEX_BYTES:
            raise IndexTooLargeToSend(
                f"the Dask workers cannot read the index at {folder}, and at {size / 2**20:,.0f} MiB it is "
                f"too large to send them (at most {MAX_SENT_INDEX_BYTES / 2**20:,.0f} MiB): put the data "
                "directory on a disk the workers share, at the same path"
            )
        # One object for the whole snapshot (a dict would scatter file by file).
        return self.client.scatter([snapshot_index(folder)], broadcast=True, hash=False)[0]

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(cancel=exc_type is not None)

    def submit(self, chunk: list[Item]) -> None:
        if self.sends_index:
            chunk = [with_local_bytes(item, self.ctx.settings) for item in chunk]
        # pure=False: two identical chunks (a re-run) are still computed, not served from Dask's cache.
        self._pending.add(self.client.submit(analyse_chunk, chunk, self.ctx, self._sent, pure=False))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def wait(self, timeout: float | None = None) -> list[list[Result]]:
        """Every finished chunk's results, once one is; none if ``timeout`` seconds pass first."""
        try:
            done, not_done = wait(list(self._pending), timeout=timeout, return_when="FIRST_COMPLETED")
            self._pending = set(not_done)
            return [f.result() for f in done]
        except TimeoutError:  # distributed's wait raises it where concurrent.futures returns
            return []
        except CancelledError as exc:  # the scheduler went away: every task it held is cancelled
            raise SchedulerLost(
                f"the Dask scheduler stopped answering during the scan ({type(exc).__name__}); "
                "what is done is kept: run the same command again to resume"
            ) from exc

    def close(self, *, cancel: bool = False) -> None:
        if cancel and self._pending:
            self.client.cancel(list(self._pending))
        self._pending.clear()
        self._sent = None  # the scattered index is released with its last reference
        # Gives the workers their profiler back; the engine stays in their per-process cache.
        with contextlib.suppress(ValueError, OSError):  # already gone, or the cluster with it
            self.client.unregister_worker_plugin(EngineLoader.name)
        if self._own:
            self.client.close()

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))
