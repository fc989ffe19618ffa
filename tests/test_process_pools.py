"""Process pools when a worker dies half-way through sending a result (a Ctrl-C, an out-of-memory
kill): each case runs in a process of its own, since a hang there is a hung interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Leaves ``executor``'s manager thread reading a result that was started and never finished.
_CUT_OFF = """
import os, signal, struct, sys, threading, time
from concurrent.futures.process import BrokenProcessPool

def cut_off(executor):
    executor._result_queue._writer._send(struct.pack("!i", 100_000) + b"x" * 10)  # a tenth of one
    time.sleep(0.5)  # the manager thread is now waiting for the rest

def kill_soon(worker, after_s=0.5):
    threading.Timer(after_s, os.kill, (worker.pid, signal.SIGKILL)).start()
"""

_LOCAL_POOL = """
from workers.local_pool import LocalPool
from workers.task import WorkerContext

pool = LocalPool(WorkerContext(index_dir=sys.argv[1], index_version="empty"), 1)
pool.submit([])
assert pool.wait(timeout=60) == [[]], "the pool never answered"
[worker] = pool._pool._processes.values()
cut_off(pool._pool)
"""

_THEN_CANCEL = """
pool.close(cancel=True)
print("closed", flush=True)
"""

_THEN_KILL_AND_WAIT = """
pool.submit([])  # its result is read as part of the one cut off: this task never finishes
kill_soon(worker)
started = time.monotonic()
try:
    pool.wait()
except BrokenProcessPool as exc:
    print(f"broken after {time.monotonic() - started:.0f} s: {exc}", flush=True)
pool.close(cancel=True)
"""

_FINGERPRINT_POOL = """
from indexes import fingerprint
from indexes.fingerprint_pool import FingerprintPool
from tests.rights_support import artwork_png

data = artwork_png(3)
with FingerprintPool(1) as pool:
    pool.warm_up()
    [worker] = pool._executor._processes.values()
    cut_off(pool._executor)
    kill_soon(worker)  # after this call's result went into the cut-off one
    started = time.monotonic()
    same = pool.fingerprint(data) == fingerprint(data)
    print(f"retried after {time.monotonic() - started:.0f} s: {same}", flush=True)
"""


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CUT_OFF + script), str(tmp_path / "index")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_result_cut_off_by_the_cancel_does_not_hang_the_exit(tmp_path: Path) -> None:
    """Ctrl-C of a scan printed "interrupted" and the process never exited (CI, stop 53)."""
    done = _run(_LOCAL_POOL + _THEN_CANCEL, tmp_path)
    assert done.returncode == 0 and done.stdout == "closed\n", done.stderr


def test_a_scan_worker_killed_mid_result_breaks_the_wait_instead_of_hanging_it(tmp_path: Path) -> None:
    """The pool never noticed the dead worker: a scan waited for its task for ever."""
    done = _run(_LOCAL_POOL + _THEN_KILL_AND_WAIT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("broken after ") and "a worker process died" in done.stdout, done.stdout
    assert int(done.stdout.split()[2]) <= 10


def test_a_fingerprint_worker_killed_mid_result_is_retried_and_the_server_exits(tmp_path: Path) -> None:
    """The same for a registration or match: its request waited for ever, and so did shutdown."""
    done = _run(_FINGERPRINT_POOL, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("retried after ") and done.stdout.endswith(": True\n"), done.stdout
    assert int(done.stdout.split()[2]) <= 10
