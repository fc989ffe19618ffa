"""Stopping the server's scan service: the scan in progress resumes on the next start, and a
`rights serve` stopped by SIGTERM or killed with SIGKILL leaves no worker processes behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rights import scans
from rights.api.app import create_app
from rights.registry import Registry
from tests.artwork import artwork, encode, pirate
from tests.image_server import ImageServer, Route, serve_images
from tests.rights_support import TestClient, free_port
from tests.scan_support import World, build_world
from workers.service import BackgroundScans

REPO = Path(__file__).resolve().parents[1]


def _listings(server: ImageServer, n: int) -> list[dict[str, str]]:
    copy, clean = encode(pirate(artwork(11), "crop")), encode(artwork(903))
    for i in range(n):  # distinct URLs: the fetch cache would otherwise make most of them free
        server.routes[f"/l{i}.png"] = Route(body=copy if i % 3 == 0 else clean)
    return [{"listing_id": f"L{i}", "platform": "shop", "image": server.url(f"/l{i}.png")} for i in range(n)]


def _world_with_platform_key(tmp_path: Path) -> tuple[World, str, dict[str, str]]:
    world = build_world(tmp_path, fetch_allow=["127.0.0.1/32"])
    with Registry.open(world.settings) as registry:
        key = registry.create_key("platform", "shop")
    return world, key, {"Authorization": f"Bearer {key}"}


def _assert_all_150_found_once_in_order(status: dict, findings: list[str]) -> None:
    assert status["done"] == status["total"] == 150
    assert [line.split('"')[3] for line in findings] == [f"L{i}" for i in range(150)]  # each once, in order
    assert status["counts"]["match"] == 50 and status["counts"]["error"] == 0


def _status(client: TestClient, scan_id: str, key: str) -> dict:
    return client.get(f"/v1/scans/{scan_id}", headers={"Authorization": f"Bearer {key}"}).json()


def _wait_for_progress(client: TestClient, scan_id: str, key: str, done: int = 10) -> None:
    deadline = time.monotonic() + 90
    while _status(client, scan_id, key)["done"] < done:
        assert time.monotonic() < deadline, _status(client, scan_id, key)
        time.sleep(0.05)


def _wait_until_done(client: TestClient, scan_id: str, key: str) -> dict:
    deadline = time.monotonic() + 120
    while (status := _status(client, scan_id, key))["status"] != "done":
        assert time.monotonic() < deadline and status["status"] != "failed", status
        time.sleep(0.1)
    return status


def test_a_scan_stopped_by_shutdown_resumes_on_the_next_start(tmp_path: Path) -> None:
    world, key, auth = _world_with_platform_key(tmp_path)
    with serve_images() as server:
        listings = _listings(server, 150)
        with TestClient(create_app(world.settings, scan_service=BackgroundScans(workers=1))) as client:
            scan_id = client.post("/v1/scans", json={"listings": listings}, headers=auth).json()["scan_id"]
            _wait_for_progress(client, scan_id, key)
        # The app shut down mid-scan: its lifespan stopped the service between chunks.
        with TestClient(create_app(world.settings)) as client:
            stopped = _status(client, scan_id, key)
        assert stopped["status"] == "queued" and 10 <= stopped["done"] < 150, stopped

        with TestClient(create_app(world.settings, scan_service=BackgroundScans(workers=1))) as client:
            status = _wait_until_done(client, scan_id, key)
            findings = client.get(f"/v1/scans/{scan_id}/findings", headers=auth).text.splitlines()
    _assert_all_150_found_once_in_order(status, findings)


def test_a_starting_server_leaves_a_live_servers_scan_alone_and_adopts_a_dead_ones(tmp_path: Path) -> None:
    """Every starting server once re-queued every unfinished scan: a live server's scan then ran
    twice, and one left by a killed server stayed `running` until some server restarted."""
    world, key, auth = _world_with_platform_key(tmp_path)
    with serve_images() as server:
        listings = _listings(server, 60)
        first = BackgroundScans(workers=1, lease_s=30, heartbeat_s=0.2)
        second = BackgroundScans(workers=1, lease_s=30, heartbeat_s=0.2)
        with TestClient(create_app(world.settings, scan_service=first)) as one:
            scan_id = one.post("/v1/scans", json={"listings": listings}, headers=auth).json()["scan_id"]
            with TestClient(create_app(world.settings, scan_service=second)) as two:
                status = _wait_until_done(one, scan_id, key)
                assert second._thread is None  # it never queued the scan the first server runs
                # A server died holding a claim: its lease runs out, and the live one adopts the scan.
                feed = Path(world.settings.data) / scans.FEEDS_DIRNAME / "orphan.jsonl"
                feed.write_text("".join(json.dumps(item) + "\n" for item in listings[:30]))
                with Registry.open(world.settings) as registry, registry.transaction() as conn:
                    orphan = scans.create_scan(
                        conn, feed_key="upload:orphan.jsonl", feed_digest="-", submitted_by="shop"
                    ).id
                    conn.execute(
                        "UPDATE scans SET status = 'running', owner = ?, lease_until = ? WHERE id = ?",
                        ("dead:1:x", "2000-01-01T00:00:00.000Z", orphan),
                    )
                status = _wait_until_done(two, orphan, key)
    assert status["done"] == status["total"] == 30


def test_a_scan_whose_worker_process_dies_is_finished_by_new_workers(tmp_path: Path) -> None:
    """An out-of-memory kill of one worker once marked the scan failed for good (BrokenProcessPool)."""
    world, key, auth = _world_with_platform_key(tmp_path)
    with serve_images() as server:
        listings = _listings(server, 150)
        service = BackgroundScans(workers=1)
        with TestClient(create_app(world.settings, scan_service=service)) as client:
            scan_id = client.post("/v1/scans", json={"listings": listings}, headers=auth).json()["scan_id"]
            _wait_for_progress(client, scan_id, key)
            [pid] = list(service._runner._pool._processes)  # the scan pool's one worker process
            os.kill(pid, signal.SIGKILL)
            status = _wait_until_done(client, scan_id, key)
            findings = client.get(f"/v1/scans/{scan_id}/findings", headers=auth).text.splitlines()
        service.close()
    _assert_all_150_found_once_in_order(status, findings)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_a_stopped_serve_leaves_no_worker_processes(tmp_path: Path, stop: signal.Signals) -> None:
    data = tmp_path / "data"
    with Registry.open(data) as registry:
        key = registry.create_key("platform", "shop")
    port = free_port()
    env = {**os.environ, "RIGHTS_FETCH_ALLOW": '["127.0.0.1/32"]'}
    command = [sys.executable, "-m", "workers", "--data", str(data), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", "1"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with (
            serve_images() as server,
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as client,
        ):
            _wait_until_up(client, proc)
            scan_id = client.post("/v1/scans", json={"listings": _listings(server, 3)}).json()["scan_id"]
            deadline = time.monotonic() + 90
            while client.get(f"/v1/scans/{scan_id}").json()["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            children = _children(proc.pid)
            assert children, "the scan should have started worker processes"
            proc.send_signal(stop)  # SIGTERM: the lifespan closes the pools; SIGKILL: workers watch
            proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 15
    while alive := [pid for pid in children if Path(f"/proc/{pid}").exists() and not _zombie(pid)]:
        assert time.monotonic() < deadline, f"left running after {stop.name}: {alive}"
        time.sleep(0.1)


def _wait_until_up(client: httpx.Client, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            client.get("/healthz")
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            time.sleep(0.1)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
