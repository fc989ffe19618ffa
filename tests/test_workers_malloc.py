"""Scan workers undo Dask's malloc trimming (which made each listing ~30 % dearer)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_worker_restores_malloc_thresholds_under_dask_environment() -> None:
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")  # what Dask's nanny sets
    code = "from workers.malloc_tuning import reuse_freed_memory as r; print(r())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
