"""A disk that fills up: the index is derived data, so failing to save it loses nothing and stops
nothing but what needs it on disk; partial files never stay; the API names the condition. Each test
runs on a small tmpfs of its own (skipped where that cannot be mounted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.read_only_mount import run_on_small_disk

REPO = Path(__file__).resolve().parents[1]
WORKS = sorted((REPO / "samples" / "works").glob("*.png"))

# Fills the disk but for $2 KiB, then runs the rest of the arguments.
_FILL_THEN = (
    'dd if=/dev/zero of="$1/fill" bs=1k count=$(( $(df -k --output=avail "$1" | tail -1) - $2 )) '
    '2>/dev/null; shift 2; exec "$@"'
)


def _rights(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "rights", "--data", str(data), *args]


def _script(*lines: list[str]) -> list[str]:
    """One shell command running each command line in turn, printing each one's exit status."""
    quoted = [" ".join(f"'{part}'" for part in line) + '; echo "rc=$?"' for line in lines]
    return ["sh", "-c", "; ".join(quoted)]


def test_a_match_whose_index_must_be_rebuilt_on_a_full_disk_still_answers(tmp_path: Path) -> None:
    """The open rebuilt the missing index and saved it at once: on a full disk a 31-line traceback,
    and a partial generation left behind at every try (an audit)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    data = disk / "data"
    index = data / "index"
    fill = ["sh", "-c", _FILL_THEN, "sh", str(disk), "150"]
    run = run_on_small_disk(
        20 * 1024,
        disk,
        _script(
            _rights(data, "register", *map(str, WORKS[:6]), "--creator", "alice"),
            ["rm", "-rf", str(index)],
            [*fill, *_rights(data, "match", str(WORKS[2]))],
            ["ls", "-A", str(index)],
        ),
        REPO,
    )
    lines = run.stdout.splitlines()
    assert lines[6] == "rc=0" and lines[7] == "rc=0", run.stdout + run.stderr
    found = json.loads(lines[8])
    assert found["verdict"] == "match" and found["matches"][0]["kind"] == "exact"
    assert lines[9] == "rc=0"
    assert lines[10:] == ["index.lock", "rc=0"]  # no partial generation stays
    assert "Traceback" not in run.stderr
    assert f"the index could not be saved: No space left on device in {index}" in run.stderr


def test_an_index_save_that_fills_the_disk_raises_and_keeps_the_saved_generation(tmp_path: Path) -> None:
    """FAISS raised a RuntimeError for a full disk, and its partial files stayed (an audit)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"""
import json, os, sys
from indexes import Engine, fingerprint
folder = sys.argv[1] + "/index"
engine = Engine(folder)
paths = {[str(p) for p in WORKS[:8]]!r}
for key, path in enumerate(paths[:4]):
    engine.add(key, fingerprint(path, role="reference"))
engine.save()
before = sorted(os.listdir(folder))
with open(sys.argv[1] + "/fill", "wb") as fill:
    try:
        while True:
            fill.write(bytes(1 << 16))
            fill.flush()
    except OSError:
        pass
for key, path in enumerate(paths[4:], start=4):
    engine.add(key, fingerprint(path, role="reference"))
try:
    engine.save()
    error = None
except OSError as exc:
    error = [exc.errno, exc.filename, exc.strerror]
print(json.dumps({{"before": before, "after": sorted(os.listdir(folder)), "error": error,
                  "loaded": sorted(Engine(folder).keys())}}))
"""
    run = run_on_small_disk(4 * 1024, disk, [sys.executable, "-c", script, str(disk)], REPO)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["error"] == [
        28,
        str(disk / "index"),
        "the index could not be saved: No space left on device",
    ]
    assert result["after"] == result["before"]
    assert result["loaded"] == [0, 1, 2, 3]


def test_a_registration_on_a_full_disk_is_answered_507_and_the_server_shuts_down_cleanly(
    tmp_path: Path,
) -> None:
    """POST /v1/works answered 500 "internal" for a full disk, and the shutdown's index save then
    failed the lifespan (an audit). The works accepted before stay whole."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"""
import json, sys
from fastapi.testclient import TestClient
from rights.api.app import create_app
from rights.config import load_settings
from rights.registry import Registry
settings = load_settings(data=sys.argv[1] + "/data")
with Registry.open(settings) as registry:
    key = registry.create_key("admin", "root")
statuses, codes = [], set()
with TestClient(create_app(settings)) as client:
    for path in {[str(p) for p in WORKS]!r}:
        with open(path, "rb") as fh:
            answer = client.post("/v1/works", headers={{"Authorization": "Bearer " + key}},
                                 files={{"image": fh}}, data={{"creator": "carol"}})
        statuses.append(answer.status_code)
        if answer.status_code != 201:
            codes.add(answer.json()["error"]["code"])
print(json.dumps({{"statuses": statuses, "codes": sorted(codes)}}))
"""
    run = run_on_small_disk(1500, disk, [sys.executable, "-c", script, str(disk)], REPO)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert set(result["statuses"]) == {201, 507}, result
    assert result["codes"] == ["insufficient_storage"]
    assert "Traceback" not in run.stderr
