"""Scans end to end on real worker processes: local pool, Dask LocalCluster, loopback URLs, kill -9 resume."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rights import cases
from rights.errors import BadInput
from rights.registry import Registry
from tests.artwork import artwork, encode, pirate
from tests.image_server import Route, serve_images
from tests.scan_support import World, build_world, listings, read_findings, write_feed
from workers.local_pool import LocalPool
from workers.scan import ScanStopped, make_context, run_scan

REPO = Path(__file__).resolve().parent.parent
BROKEN = [
    "{not json",
    json.dumps({"listing_id": "no-image", "platform": "bazaar"}),
    json.dumps({"listing_id": "escape", "platform": "bazaar", "image": "../../etc/passwd", "ref": "r7"}),
    "[" * 100_000 + "]" * 100_000,  # once a RecursionError that stopped the whole scan
    json.dumps({"listing_id": "gone", "platform": "bazaar", "image": "missing.png"}),
    json.dumps({"listing_id": "text", "platform": "bazaar", "image": "notes.png"}),
    json.dumps(
        {"listing_id": "metadata", "platform": "bazaar", "image": "http://169.254.169.254/latest/x.png"}
    ),
    json.dumps({"listing_id": "lan", "platform": "bazaar", "image": "http://10.0.0.1/x.png"}),
    json.dumps({"listing_id": "11-jpeg-0", "platform": "bazaar", "image": "11-jpeg.png"}),  # duplicate id
    json.dumps({"listing_id": "fifo", "platform": "bazaar", "image": "pipe.png"}),  # once hung the scan
    json.dumps({"listing_id": "folder", "platform": "bazaar", "image": "a-folder.png"}),
]


@pytest.fixture(scope="module")
def server() -> Iterator:
    with serve_images() as srv:
        srv.routes["/img/33-crop.png"] = Route(body=encode(pirate(artwork(33), "crop")))
        srv.routes["/img/redirect"] = Route(status=302, headers={"Location": "/img/33-crop.png"})
        srv.routes["/img/flaky.png"] = Route(body=encode(pirate(artwork(44), "jpeg")), fail_times=1)
        yield srv


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, server) -> World:
    world = build_world(tmp_path_factory.mktemp("world"), fetch_allow=["127.0.0.1/32"])
    (world.feed_dir / "notes.png").write_text("not an image")
    os.mkfifo(world.feed_dir / "pipe.png")  # no writer ever: opening it to read would wait forever
    (world.feed_dir / "a-folder.png").mkdir()
    lines = listings(world)
    lines += [
        {"listing_id": "url-crop", "platform": "bazaar", "image": server.url("/img/33-crop.png")},
        {"listing_id": "url-redirect", "platform": "bazaar", "image": server.url("/img/redirect")},
        {"listing_id": "url-flaky", "platform": "bazaar", "image": server.url("/img/flaky.png")},
        {"listing_id": "url-404", "platform": "bazaar", "image": server.url("/img/none.png")},
    ]
    world.expected.update(
        {"url-crop": world.works[33], "url-redirect": world.works[33], "url-flaky": world.works[44]}
    )
    write_feed(world.feed_dir / "feed.jsonl", lines, BROKEN)
    return world


@pytest.fixture(scope="module")
def local_findings(world: World) -> list[dict]:
    out = world.feed_dir.parent / "local.jsonl"
    with Registry.open(world.settings) as registry, LocalPool(make_context(registry), 2) as pool:
        outcome = run_scan(world.feed_dir / "feed.jsonl", registry=registry, runner=pool, out=out)
    assert outcome.processed + outcome.skipped == outcome.total
    return read_findings(out)


def test_findings_follow_the_contract_in_feed_order(world: World, local_findings: list[dict]) -> None:
    feed_lines = (world.feed_dir / "feed.jsonl").read_text().splitlines()
    assert [f["listing_id"] for f in local_findings] == [_listing_id(line) for line in feed_lines]
    for finding in local_findings:
        assert list(finding)[:6] == ["listing_id", "platform", "image", "verdict", "matches", "error"]
        assert finding["verdict"] in ("match", "review", "clear", "error")
        scores = [m["score"] for m in finding["matches"]]
        assert scores == sorted(scores, reverse=True)
    by_id = {f["listing_id"]: f for f in local_findings if f["verdict"] != "error" or f["listing_id"]}
    assert by_id["u901-0"]["colour"] == "blue"  # unknown keys pass through


def test_copies_found_and_clean_art_not_flagged(world: World, local_findings: list[dict]) -> None:
    first = {}
    for f in local_findings:
        first.setdefault(f["listing_id"], f)
    for ident, work_id in world.expected.items():
        finding = first[ident]
        if work_id is None:
            assert finding["verdict"] != "match", finding
        else:
            assert finding["verdict"] == "match", finding
            assert finding["matches"][0]["work_id"] == work_id
    assert first["licensed-0"]["matches"][0]["licensed"] is True
    assert first["11-crop-0"]["matches"][0]["licensed"] is False


def test_every_broken_line_is_an_error_finding(local_findings: list[dict]) -> None:
    errors = [f for f in local_findings if f["verdict"] == "error"]
    messages = {f["listing_id"]: f["error"] for f in errors}
    assert any(f["listing_id"] is None and "invalid JSON" in f["error"] for f in errors)
    assert "missing 'image'" in messages["no-image"]
    assert "outside the allowed folders" in messages["escape"]
    assert next(f for f in errors if f["listing_id"] == "escape")["ref"] == "r7"  # passed through
    assert any(f["listing_id"] is None and "nested more than" in f["error"] for f in errors)
    assert "unreadable" in messages["gone"]
    assert "not_an_image" in messages["text"] or "invalid_image" in messages["text"]
    assert "cloud metadata" in messages["metadata"]
    assert "private" in messages["lan"]
    assert "HTTP 404" in messages["url-404"]
    assert "duplicate listing_id" in messages["11-jpeg-0"]
    assert "not a regular file" in messages["fifo"]
    assert "not a regular file" in messages["folder"]
    # Input errors, not bugs: none is reported as one (with a traceback on the worker's stderr).
    assert not [m for m in messages.values() if "internal_error" in m]
    assert len(errors) == len(BROKEN) + 1


def test_cases_opened_for_unlicensed_matches_only(world: World, local_findings: list[dict]) -> None:
    with Registry.open(world.settings) as registry:
        all_cases = cases.list_cases(registry.db, limit=1000)
    keyed = {(c.listing_id, c.work_id): c for c in all_cases}
    assert keyed[("licensed-0", world.works[22])].status == "licensed"
    assert keyed[("11-crop-0", world.works[11])].status == "open"
    assert not any(c.listing_id.startswith("u9") for c in all_cases)
    case = keyed[("11-crop-0", world.works[11])]
    assert (
        case.evidence["query_thumb"]
        and case.evidence["work_thumb"]
        and case.listing_title == "Poster 11 crop"
    )


def _fresh_feed(world: World, name: str) -> Path:
    """The world's feed under another name: a new scan, not a resume of another."""
    feed = world.feed_dir / name
    feed.write_bytes((world.feed_dir / "feed.jsonl").read_bytes())
    return feed


@contextmanager
def _two_workers(world: World) -> Iterator[tuple[Any, Registry]]:
    """A real 2-process Dask LocalCluster's client, and the world's registry."""
    from distributed import Client, LocalCluster

    with (
        # No dashboard; the scheduler's HTTP server (metrics, health) still binds port 8787 unless given
        # another, and with 8787 taken (a test run beside this one) distributed warns, an error here.
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
        Registry.open(world.settings) as registry,
    ):
        yield client, registry


def test_dask_cluster_gives_the_same_findings(world: World, local_findings: list[dict]) -> None:
    from workers.dask_runner import PROFILER_CALLBACKS, DaskRunner

    def _profiler_running(dask_worker: Any) -> bool:
        callbacks = dask_worker.periodic_callbacks
        return all(name in callbacks and callbacks[name].is_running() for name in PROFILER_CALLBACKS)

    feed = _fresh_feed(world, "feed-dask.jsonl")
    out = world.feed_dir.parent / "dask.jsonl"
    with _two_workers(world) as (client, registry):
        with DaskRunner(make_context(registry), client) as runner:
            assert not runner.sends_index  # a LocalCluster's workers read this machine's disk
            run_scan(feed, registry=registry, runner=runner, out=out)
            loads = client.run(lambda: __import__("workers.task").task._engine is not None)
            profiling = client.run(_profiler_running)
        profiling_after = client.run(_profiler_running)
    assert read_findings(out) == local_findings
    assert all(loads.values()) and len(loads) == 2  # each worker process holds its engine
    # The scan pauses Dask's stack sampler on its workers, and gives it back when it closes.
    assert not any(profiling.values()) and all(profiling_after.values())


def _as_if_on_another_machine() -> None:
    """Run in each Dask worker: it no longer reads the parent's index folder or feed images, as a
    worker on a machine without the data directory's disk would not. Only those two reads are
    faked; the cluster, the scheduler and the transfers are real."""
    import workers.task as task

    def not_here(*_: object) -> bytes:
        raise FileNotFoundError("this worker cannot see the parent's disk")

    task.sees_index = lambda index_dir, version: False  # type: ignore[assignment]
    task.read_image_file = not_here  # type: ignore[assignment]


def _engine_folder() -> str | None:
    import workers.task as task

    return None if task._engine is None else str(task._engine[1].directory)


def test_workers_without_the_data_directory_get_the_index_and_images_sent(
    world: World, local_findings: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import dask_runner
    from workers.dask_runner import DaskRunner, IndexTooLargeToSend
    from workers.task import INDEX_COPIES

    feed = _fresh_feed(world, "feed-sent.jsonl")
    out = world.feed_dir.parent / "sent.jsonl"
    with _two_workers(world) as (client, registry):
        client.run(_as_if_on_another_machine)
        with DaskRunner(make_context(registry), client) as runner:
            assert runner.sends_index
            run_scan(feed, registry=registry, runner=runner, out=out)
            folders = client.run(_engine_folder)
            # A scan service keeps its runner for the next scan and hands it the newer index,
            # which is sent again: a work registered since is found.
            late = registry.register("newcomer", encode(artwork(90)), title="late")
            (world.feed_dir / "late.jpg").write_bytes(encode(pirate(artwork(90), "crop"), "JPEG"))
            late_feed = write_feed(
                world.feed_dir / "late.jsonl",
                [{"listing_id": "late", "platform": "bazaar", "image": "late.jpg"}],
            )
            runner.ctx = make_context(registry)
            run_scan(late_feed, registry=registry, runner=runner, out=world.feed_dir.parent / "late.jsonl")
            later_folders = client.run(_engine_folder)
            registry.withdraw(late["work_id"])  # the module's other tests expect the world as it was
        [finding] = read_findings(world.feed_dir.parent / "late.jsonl")
        assert finding["verdict"] == "match" and finding["matches"][0]["work_id"] == late["work_id"]
        # The worker that ran it loaded the newer copy (the other had no task since).
        assert set(later_folders.values()) - set(folders.values()), (folders, later_folders)
        monkeypatch.setattr(dask_runner, "MAX_SENT_INDEX_BYTES", 1000)
        with pytest.raises(IndexTooLargeToSend, match="on a disk the workers share"):
            DaskRunner(make_context(registry), client)
    # The same findings, broken lines' messages included, from images sent and an index sent.
    assert read_findings(out) == local_findings
    assert len(folders) == 2
    # A worker loads the index on its first task; on a busy machine one worker may have had none.
    loaded = [f for f in folders.values() if f is not None]
    assert loaded and all(Path(f).parent == INDEX_COPIES for f in loaded), folders
    for copy in {*folders.values(), *later_folders.values()} - {None}:
        shutil.rmtree(copy, ignore_errors=True)  # the workers' copies outlive the cluster


# A `dask worker --preload` module: the same blindness as `_as_if_on_another_machine`.
BLIND_WORKER = """
def dask_setup(worker):
    from tests.test_workers_scan import _as_if_on_another_machine

    _as_if_on_another_machine()
"""


def test_the_cli_scans_on_an_outside_cluster_whose_workers_lack_the_disk(
    world: World, local_findings: list[dict], tmp_path: Path
) -> None:
    """`rights scan --scheduler` against a scheduler and a worker started apart, the worker
    preloaded so that it reads neither the index folder nor the feed's files."""
    from workers.task import INDEX_COPIES

    preload = tmp_path / "blind_worker.py"
    preload.write_text(BLIND_WORKER)
    feed = _fresh_feed(world, "feed-outside.jsonl")
    out = tmp_path / "outside.jsonl"
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**_env(world.data), "PYTHONPATH": str(REPO)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": REPO}
    dask = [sys.executable, "-m", "dask"]
    port = address.rsplit(":", 1)[1]
    procs = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet
        ),
        subprocess.Popen(
            [
                *dask,
                "worker",
                address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--preload",
                str(preload),
            ],
            **quiet,
        ),
    ]
    try:
        scan = subprocess.run(
            [sys.executable, "-m", "workers", "scan", str(feed), "--out", str(out), "--scheduler", address],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert scan.returncode == 0, scan.stderr
    assert "cannot read the index" in scan.stderr and "sending them the index" in scan.stderr
    assert read_findings(out) == local_findings
    origin = hashlib.sha256(str((world.data / "index").resolve()).encode()).hexdigest()[:16]
    copies = list(INDEX_COPIES.glob(f"{origin}-*"))
    assert copies  # the worker's own copy of the index, which outlives it
    for copy in copies:
        shutil.rmtree(copy, ignore_errors=True)


def test_a_sent_index_is_written_once_per_version_and_day_old_copies_go(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexes.index_copy import snapshot_index
    from workers import task

    monkeypatch.setattr(task, "INDEX_COPIES", tmp_path / "copies")
    monkeypatch.setattr(task, "_engine", None)
    with Registry.open(world.settings) as registry:
        ctx = make_context(registry)
        works = len(registry.engine)
    origin = hashlib.sha256(ctx.index_dir.encode()).hexdigest()[:16]
    old, recent, other = (
        tmp_path / "copies" / name for name in (f"{origin}-old", f"{origin}-recent", "else-old")
    )
    for folder, age in ((old, 25 * 3600), (recent, 3600), (other, 25 * 3600)):
        folder.mkdir(parents=True)
        os.utime(folder, (time.time() - age, time.time() - age))
    engine = task.engine_for(ctx, snapshot_index(Path(ctx.index_dir)))
    assert len(engine) == works and engine.directory is not None
    assert engine.directory.parent == tmp_path / "copies"
    # Another origin's copies and this one's of less than a day are left to their users.
    assert not old.exists() and recent.exists() and other.exists()


def _scan_beside_a_reference(
    world: World, tmp_path: Path, name: str, *, repeat: int
) -> tuple[Path, Path, Path, int, subprocess.Popen[str]]:
    """A reference run's findings, then the same listings' scan started in its own process group
    (a signal to the group reaches the pool workers too): (feed, reference findings, findings,
    listings, process)."""
    many = listings(world, repeat=repeat)
    reference_feed = write_feed(world.feed_dir / f"{name}-ref.jsonl", many)
    feed = write_feed(world.feed_dir / f"{name}.jsonl", many)
    ref_out, out = tmp_path / "ref.jsonl", tmp_path / "resumed.jsonl"
    assert _cli("scan", reference_feed, "--out", ref_out, data=world.data).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers", "scan", str(feed), "--out", str(out), "--workers", "2"],
        env=_env(world.data),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C as a terminal delivers it: a suite started in the background of a shell without
        # job control inherits SIGINT ignored, and the scan then ran to the end (exit 0).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return feed, ref_out, out, len(many), proc


def test_kill_9_then_resume_gives_identical_findings(world: World, tmp_path: Path) -> None:
    killed_feed, ref_out, out, n, proc = _scan_beside_a_reference(world, tmp_path, "killed", repeat=6)
    try:
        done = _wait_for_progress(world.data, killed_feed, at_least=20, proc=proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert 20 <= done < n, "the scan should have been killed part-way"
    assert not out.exists()

    resumed = _cli("scan", killed_feed, "--out", out, data=world.data)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    assert out.read_bytes() == ref_out.read_bytes()


def test_ctrl_c_leaves_the_scan_resumable_and_says_so(world: World, tmp_path: Path) -> None:
    """Ctrl-C listed the scan as failed ("KeyboardInterrupt: ") and said only "interrupted"."""
    feed, ref_out, out, n, proc = _scan_beside_a_reference(world, tmp_path, "interrupted", repeat=4)
    try:
        done = _wait_for_progress(world.data, feed, at_least=10, proc=proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert done < n, "the scan had finished before the signal"
    assert proc.returncode == 1
    assert "rights: error: interrupted; the same command resumes the scan" in err.splitlines()
    with sqlite3.connect(world.data / "rights.sqlite3") as conn:
        [status] = conn.execute(
            "SELECT status FROM scans WHERE feed_key = ?", (str(feed.resolve()),)
        ).fetchone()
    conn.close()
    assert status == "queued"
    resumed = _cli("scan", feed, "--out", out, data=world.data)
    assert resumed.returncode == 0 and "already done" in resumed.stderr, resumed.stderr
    assert out.read_bytes() == ref_out.read_bytes()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_lost_dask_scheduler_ends_the_scan_in_one_line_and_it_resumes(world: World, tmp_path: Path) -> None:
    """The scheduler killed mid-scan: the CLI said so in dozens of lines of distributed's logs."""
    many = listings(world, repeat=6)
    feed = write_feed(world.feed_dir / "lost-scheduler.jsonl", many)
    reference = write_feed(world.feed_dir / "lost-scheduler-ref.jsonl", many)
    out, ref_out = tmp_path / "lost.jsonl", tmp_path / "ref.jsonl"
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m", "dask"]
    env = {**_env(world.data), "PYTHONPATH": str(REPO)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": REPO}
    port = address.rsplit(":", 1)[1]
    procs = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet
        ),
        subprocess.Popen(
            [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], **quiet
        ),
    ]
    try:
        scan = subprocess.Popen(
            [sys.executable, "-m", "workers", "scan", str(feed), "--out", str(out), "--scheduler", address],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(scan)
        try:
            _wait_for_progress(world.data, feed, at_least=5, proc=scan)
        finally:
            procs[0].kill()  # the scheduler
        _, stderr = scan.communicate(timeout=120)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert scan.returncode == 1 and not out.exists()
    assert stderr.strip().splitlines() == [stderr.strip()] and "scheduler stopped answering" in stderr, stderr

    resumed = _cli("scan", feed, "--out", out, data=world.data)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    assert _cli("scan", reference, "--out", ref_out, data=world.data).returncode == 0
    assert out.read_bytes() == ref_out.read_bytes()


def _listing_id(line: str) -> str | None:
    try:
        return json.loads(line).get("listing_id")
    except (ValueError, RecursionError):
        return None


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "RIGHTS_DATA": str(data), "RIGHTS_FETCH_ALLOW": '["127.0.0.1/32"]'}


def _cli(*args: object, data: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "workers", *(str(a) for a in args), "--workers", "2"]
    return subprocess.run(command, env=_env(data), cwd=REPO, capture_output=True, text=True, timeout=240)


def _wait_for_progress(data: Path, feed: Path, *, at_least: int, proc: subprocess.Popen) -> int:
    key = str(feed.resolve())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(data / "rights.sqlite3", timeout=30) as conn:
            row = conn.execute("SELECT done FROM scans WHERE feed_key = ?", (key,)).fetchone()
        conn.close()
        if row and row[0] >= at_least:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError(
        "the scan never got going" if proc.poll() is None else "the scan ended before the kill"
    )


def test_outputs_that_would_overwrite_the_feed_are_refused(tmp_path: Path) -> None:
    from workers.cli import main as rights_main

    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"listing_id": "a", "platform": "p", "image": "a.png"}\n')
    before = feed.read_bytes()
    data = str(tmp_path / "data")
    for extra in (
        ["--out", str(feed)],
        ["--out", str(tmp_path)],
        ["--out", "x.jsonl", "--report", "x.jsonl"],
        ["--out", f"{data}/rights.sqlite3"],  # exited 0 over the registry's database
        ["--out", "x.jsonl", "--report", f"{data}/log-signing-key.pem"],
    ):
        assert rights_main(["--data", data, "scan", str(feed), *extra]) == 2
    assert feed.read_bytes() == before and not (tmp_path / "data").exists()  # refused before any work
    assert (
        rights_main(["--data", data, "scan", str(tmp_path), "--out", "x.jsonl"]) == 2
    )  # a folder as the feed


def test_a_scan_whose_output_cannot_be_opened_is_failed_not_running(world: World, tmp_path: Path) -> None:
    """The output was opened before the scan's error handling, so such a scan stayed "running"."""
    from rights import scans

    feed = write_feed(world.feed_dir / "unopenable-output.jsonl", listings(world)[:2])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with Registry.open(world.settings) as registry, LocalPool(make_context(registry), 1) as pool:
        with pytest.raises(BadInput, match="a folder on its way is a file"):
            run_scan(feed, registry=registry, runner=pool, out=blocker / "findings.jsonl")
        scan = scans.list_scans(registry.db, limit=1)[0]
        assert scan.status == "failed" and "a-file" in (scan.error or "")
        # Where the temporary file beside it cannot be made, the error names the output asked for.
        out = tmp_path / "findings.jsonl"
        (tmp_path / "findings.jsonl.partial").mkdir()
        with pytest.raises(BadInput, match=f"cannot write the findings to {out}: Is a directory"):
            run_scan(feed, registry=registry, runner=pool, out=out)
        assert scans.list_scans(registry.db, limit=1)[0].status == "failed"


def test_a_stopped_scan_leaves_no_unfinished_findings_file(world: World, tmp_path: Path) -> None:
    """``OUT.partial`` stayed beside the output after a scan stopped or failed."""
    import threading

    feed = write_feed(world.feed_dir / "stopped.jsonl", listings(world)[:6])
    out = tmp_path / "stopped.jsonl"
    stop = threading.Event()
    with Registry.open(world.settings) as registry:
        # A runner that a scan left with work in flight is closed, as the scan service does.
        with LocalPool(make_context(registry), 1) as pool, pytest.raises(ScanStopped):
            run_scan(
                feed,
                registry=registry,
                runner=pool,
                out=out,
                chunk_size=1,
                on_progress=lambda _: stop.set(),
                stop=stop,
            )
        assert sorted(p.name for p in tmp_path.iterdir()) == []
        with LocalPool(make_context(registry), 1) as pool:
            resumed = run_scan(feed, registry=registry, runner=pool, out=out)
    assert resumed.skipped >= 1 and resumed.skipped + resumed.processed == 6
    assert [f["listing_id"] for f in read_findings(out)] == [x["listing_id"] for x in listings(world)[:6]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stopped.jsonl"]


class _CountingPool(LocalPool):
    """A real pool that remembers how many listings each task it was given held."""

    chunk_size = 3

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sizes: list[int] = []

    def submit(self, chunk: list) -> None:
        self.sizes.append(len(chunk))
        super().submit(chunk)


def test_a_scan_sends_tasks_of_its_runners_size_unless_told_otherwise(world: World) -> None:
    """Dask tasks cost the scheduler more than a pool's: its runner asks for larger ones."""
    feed = write_feed(world.feed_dir / "chunked.jsonl", listings(world)[:7])
    with Registry.open(world.settings) as registry:
        with _CountingPool(make_context(registry), 1) as pool:
            run_scan(feed, registry=registry, runner=pool)
        assert pool.sizes == [3, 3, 1]
        feed = write_feed(world.feed_dir / "chunked-by-caller.jsonl", listings(world)[:7])
        with _CountingPool(make_context(registry), 1) as pool:
            run_scan(feed, registry=registry, runner=pool, chunk_size=2)
        assert pool.sizes == [2, 2, 2, 1]


def test_a_feed_whose_name_is_not_utf8_scans_and_reports(world: World) -> None:
    """Its path could not be stored (the scan stopped with a UnicodeEncodeError), nor its report written."""
    from rights import scans

    feed = write_feed(world.feed_dir / os.fsdecode(b"feed-\xff.jsonl"), listings(world)[:2])
    report = world.feed_dir.parent / os.fsdecode(b"report-\xff.html")
    with Registry.open(world.settings) as registry, LocalPool(make_context(registry), 1) as pool:
        outcome = run_scan(feed, registry=registry, runner=pool, report=report)
        scan = scans.get_scan(registry.db, outcome.scan_id)
    assert outcome.processed == 2 and scan.status == "done" and scan.feed_key.endswith("feed-\\xff.jsonl")
    assert "<title>Marketplace scan of feed-\ufffd.jsonl" in report.read_text(encoding="utf-8")


def test_an_interrupted_scan_of_a_feed_edited_since_is_failed_not_running(world: World) -> None:
    """It stayed "running" for ever, with no process behind it, and prune keeps unfinished scans."""
    from rights import scans

    feed = write_feed(world.feed_dir / "edited.jsonl", listings(world)[:2])
    with Registry.open(world.settings) as registry, registry.transaction() as conn:
        killed = scans.create_scan(conn, feed_key=str(feed.resolve()), feed_digest="0" * 64)
        scans.set_status(conn, killed.id, "running", total=2)
    with Registry.open(world.settings) as registry, LocalPool(make_context(registry), 1) as pool:
        outcome = run_scan(feed, registry=registry, runner=pool)
        old, new = scans.get_scan(registry.db, killed.id), scans.get_scan(registry.db, outcome.scan_id)
    assert new.id != old.id and new.status == "done"
    assert old.status == "failed" and old.error == "the feed changed since; a new scan of it started"


def test_an_image_url_repeated_in_a_feed_is_fetched_once(world: World, server, tmp_path: Path) -> None:
    """Issue 4 asks to cache fetches by URL; the same URL 20 times in a feed was fetched 21 times."""
    server.routes["/img/repeated.png"] = Route(body=encode(pirate(artwork(33), "crop")))
    url = server.url("/img/repeated.png")
    lines = [{"listing_id": f"r{i}", "platform": "bazaar", "image": url} for i in range(4)]
    feed = write_feed(world.feed_dir / "repeated.jsonl", lines)
    out = tmp_path / "repeated.jsonl"
    with Registry.open(world.settings) as registry, LocalPool(make_context(registry), 1) as pool:
        run_scan(feed, registry=registry, runner=pool, out=out)
    findings = read_findings(out)
    assert server.hits.count("/img/repeated.png") == 1
    assert [f["listing_id"] for f in findings] == ["r0", "r1", "r2", "r3"]
    assert all(f["verdict"] == "match" and f["matches"] == findings[0]["matches"] for f in findings)


def test_a_finished_csv_scan_counts_rows_not_lines(world: World) -> None:
    """The total was physical lines, so a quoted title with line breaks made a done scan look 60 % done."""
    from rights import scans

    feed = world.feed_dir / "multiline.csv"
    feed.write_text(
        'listing_id,platform,image,title\nm1,bazaar,notes.png,"one\ntwo\nthree"\nm2,bazaar,notes.png,plain\n',
        encoding="utf-8",
    )
    with Registry.open(world.settings) as registry, LocalPool(make_context(registry), 1) as pool:
        outcome = run_scan(
            feed, registry=registry, runner=pool, out=world.feed_dir.parent / "multiline.jsonl"
        )
        scan = scans.get_scan(registry.db, outcome.scan_id)
    assert outcome.processed == 2 and scan.total == 2 and scan.done == 2


def test_the_same_image_bytes_under_other_names_are_analysed_once(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pirated picture re-listed by many sellers: fingerprinted and searched once per worker."""
    from workers import task

    copy = encode(pirate(artwork(33), "crop"))
    paths = [tmp_path / "seller-a.png", tmp_path / "seller-b.png", tmp_path / "other.png"]
    paths[0].write_bytes(copy)
    paths[1].write_bytes(copy)
    paths[2].write_bytes(encode(artwork(9_001)))  # unregistered
    fingerprinted = []

    def counting_fingerprint(data: bytes) -> Any:
        fingerprinted.append(len(data))
        return real_fingerprint(data)

    real_fingerprint = task.fingerprint
    monkeypatch.setattr(task, "fingerprint", counting_fingerprint)
    with Registry.open(world.settings) as registry:
        ctx = make_context(registry)
    task._by_bytes.clear()
    results = task.analyse_chunk([task.Item(n, str(p)) for n, p in enumerate(paths)], ctx)
    assert len(fingerprinted) == 2
    assert [r.seq for r in results] == [0, 1, 2]
    assert results[0].matches and results[0].matches[0].verdict == "match"
    assert results[1].matches == results[0].matches and results[1].query_thumb == results[0].query_thumb
    assert not any(m.verdict == "match" for m in results[2].matches)  # analysed on its own


def test_images_outside_the_feeds_folder_are_read_under_an_image_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A feed naming images by absolute path in a shared store: refused as outside the allowed folders
    (with no way to allow them), until the store is named with ``--image-root``."""
    from workers.cli import main as rights_main

    data = tmp_path / "data"
    with Registry.open(data) as registry:
        registry.register("ann", encode(artwork(41)), title="forty-one")
    store, feeds = tmp_path / "store", tmp_path / "feeds"
    store.mkdir()
    feeds.mkdir()
    (store / "copy.jpg").write_bytes(encode(pirate(artwork(41), "crop"), "JPEG", quality=85))
    line = {"listing_id": "a", "platform": "p", "image": str(store / "copy.jpg")}
    scan = ["--data", str(data), "scan", str(write_feed(feeds / "feed.jsonl", [line])), "--workers", "1"]
    assert rights_main([*scan, "--out", str(tmp_path / "refused.jsonl")]) == 0
    (refused,) = read_findings(tmp_path / "refused.jsonl")
    assert refused["verdict"] == "error" and "outside the allowed folders" in refused["error"]
    assert rights_main([*scan, "--image-root", str(tmp_path / "nowhere"), "--out", "x.jsonl"]) == 2
    assert "not a folder" in capsys.readouterr().err
    scan[3] = str(write_feed(feeds / "again.jsonl", [line]))  # a new scan, not the finished one resumed
    assert rights_main([*scan, "--image-root", str(store), "--out", str(tmp_path / "found.jsonl")]) == 0
    (found,) = read_findings(tmp_path / "found.jsonl")
    assert found["verdict"] == "match" and found["matches"][0]["title"] == "forty-one"
