"""Run a command that sees a folder read-only, as on an auditor's mount of a registry snapshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Binds the folder onto itself read-only in a mount namespace of its own (root ignores file modes).
_READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


def run_read_only(folder: Path, command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` run with ``folder`` read-only; skips the test where that cannot be arranged."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare(1): no way to make a folder read-only")
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", _READ_ONLY_MOUNT, "sh", str(folder), *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode != 0 and ("unshare failed" in run.stderr or "mount:" in run.stderr):
        pytest.skip(f"cannot mount read-only here: {run.stderr.strip()}")
    return run
