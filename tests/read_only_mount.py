"""Run a command that sees a folder mounted otherwise: read-only (an auditor's mount of a registry
snapshot), or a small disk of its own (one that fills up)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Binds the folder onto itself read-only in a mount namespace of its own (root ignores file modes).
_READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"'


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
    return run_with_mount(_READ_ONLY_MOUNT, folder, command, cwd)


def run_on_small_disk(
    kib: int, folder: Path, command: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``command`` run with a ``kib`` KiB tmpfs mounted on ``folder``; skips where that cannot be done."""
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root")
    return run_with_mount(f'mount -t tmpfs -o size={kib}k tmpfs "$1"', folder, command, cwd)


def run_with_mount(
    mount: str, folder: Path, command: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``command`` run after the shell line ``mount`` (``$1`` is ``folder``) in a mount namespace of
    its own, so that nothing outside the command sees the mount."""
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare(1): no mount namespace of our own")
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mount} && shift && exec "$@"', "sh", str(folder), *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode != 0 and ("unshare failed" in run.stderr or "mount:" in run.stderr):
        pytest.skip(f"cannot mount here: {run.stderr.strip()}")
    return run
