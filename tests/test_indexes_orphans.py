"""Worker processes end with their parent, even one killed before the worker had started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STARTER = """
import multiprocessing, os, sys, time
from indexes.orphans import exit_with_parent

def worker(pid_file):
    with open(pid_file, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(1.0)  # still starting up (imports, index load) when the parent is killed
    exit_with_parent(poll_s=0.1)
    time.sleep(60)

if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(target=worker, args=(sys.argv[1],)).start()
    os._exit(0)  # gone at once, as after a kill -9: nothing shuts the worker down
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie (no init reaping it here) has exited


def test_a_worker_whose_parent_died_while_it_started_exits(tmp_path: Path) -> None:
    """Asked in the initializer, getppid() already named init: such pool workers ran for ever."""
    script = tmp_path / "starter.py"
    script.write_text(STARTER)
    pid_file = tmp_path / "worker.pid"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, str(script), str(pid_file)], env=env, check=True, timeout=60)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _running(pid)
    if alive:
        os.kill(pid, 9)
    assert not alive
