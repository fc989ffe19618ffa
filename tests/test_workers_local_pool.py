"""The local pool when a worker dies half-way through sending a result (a Ctrl-C, an out-of-memory
kill): each case runs in a process of its own, since a hang there is a hung interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# A one-worker pool whose manager thread is reading a result that was started and never finished.
_CUT_OFF_RESULT = """
import os, signal, struct, sys, time
from concurrent.futures.process import BrokenProcessPool
from workers.local_pool import LocalPool
from workers.task import WorkerContext

pool = LocalPool(WorkerContext(index_dir=sys.argv[1], index_version="empty"), 1)
pool.submit([])
assert pool.wait(timeout=60) == [[]], "the pool never answered"
[worker] = pool._pool._processes.values()
writer = pool._pool._result_queue._writer
writer._send(struct.pack("!i", 100_000) + b"x" * 10)  # a length, then a tenth of a result
time.sleep(0.5)  # the manager thread is now waiting for the rest
"""

_THEN_CANCEL = """
pool.close(cancel=True)
print("closed", flush=True)
"""

_THEN_KILL_AND_WAIT = """
pool.submit([])  # its result is read as part of the one cut off: this task never finishes
time.sleep(0.5)
os.kill(worker.pid, signal.SIGKILL)
started = time.monotonic()
try:
    pool.wait()
except BrokenProcessPool as exc:
    print(f"broken after {time.monotonic() - started:.0f} s: {exc}", flush=True)
pool.close(cancel=True)
"""


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "index")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_result_cut_off_by_the_cancel_does_not_hang_the_exit(tmp_path: Path) -> None:
    """Ctrl-C of a scan printed "interrupted" and the process never exited (CI, stop 53)."""
    done = _run(_CUT_OFF_RESULT + _THEN_CANCEL, tmp_path)
    assert done.returncode == 0 and done.stdout == "closed\n", done.stderr


def test_a_worker_killed_mid_result_breaks_the_wait_instead_of_hanging_it(tmp_path: Path) -> None:
    """The pool never noticed the dead worker: a scan waited for its task for ever."""
    done = _run(_CUT_OFF_RESULT + _THEN_KILL_AND_WAIT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("broken after ") and "a worker process died" in done.stdout, done.stdout
    assert int(done.stdout.split()[2]) <= 10
