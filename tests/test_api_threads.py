"""How the server spreads work over cores: uploads are fingerprinted in worker processes (PDQ holds
the GIL, so threads would hash one at a time), and OpenCV and numpy's BLAS run one thread per request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

from indexes import fingerprint
from indexes.fingerprint_pool import FingerprintPool
from rights.api.app import create_app
from rights.config import Settings
from rights.registry import Registry
from tests.rights_support import TestClient, artwork_png


def test_the_server_pins_opencv_to_one_thread(tmp_path: Path) -> None:
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with TestClient(create_app(Settings(data=tmp_path, fingerprint_processes=0))) as client:
            assert client.get("/healthz").status_code == 200
            assert cv2.getNumThreads() == 1
            assert client.app.state.registry.fingerprinter is fingerprint  # 0: in the request thread
    finally:
        cv2.setNumThreads(before)


_BLAS_SEEN_FROM_A_REQUEST_THREAD = """
import json, sys, threading
from pathlib import Path
from threadpoolctl import threadpool_info
from rights.api.app import create_app
from rights.config import Settings
from tests.rights_support import TestClient

def blas_threads(out):
    out += [lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas" and lib.get("threading_layer") != "openmp"]

with TestClient(create_app(Settings(data=Path(sys.argv[1]), fingerprint_processes=0))) as client:
    assert client.get("/healthz").status_code == 200
    seen = []
    thread = threading.Thread(target=blas_threads, args=(seen,))
    thread.start()
    thread.join()
print(json.dumps(seen))
"""


def test_the_server_pins_numpys_blas_to_one_thread(tmp_path: Path) -> None:
    # Step 8's matrix products from 8 request threads queued for OpenBLAS's threads (BENCHMARKS.md,
    # forty-second session). A fresh process, as a server is: this one's counts may be set already.
    run = subprocess.run(
        [sys.executable, "-c", _BLAS_SEEN_FROM_A_REQUEST_THREAD, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen, "numpy reports no BLAS library"
    assert seen == [1] * len(seen)


def test_the_server_fingerprints_uploads_in_worker_processes(tmp_path: Path) -> None:
    with Registry.open(tmp_path) as reg:
        key = reg.create_key("creator", "alice")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(Settings(data=tmp_path, fingerprint_processes=1))) as client:
        pool = getattr(client.app.state.registry.fingerprinter, "__self__", None)
        assert isinstance(pool, FingerprintPool) and pool.processes == 1
        image = {"image": ("art.png", artwork_png(7), "image/png")}
        created = client.post("/v1/works", files=image, data={"title": "seven"}, headers=auth)
        assert created.status_code == 201, created.text
        found = client.post("/v1/match", files=image, headers=auth).json()
        assert found["verdict"] == "match"
        assert found["matches"][0]["work_id"] == created.json()["work_id"]
        # The worker's typed error comes back as the contract's 4xx, not a 500.
        bad = client.post("/v1/match", files={"image": ("x.png", b"not an image", "image/png")}, headers=auth)
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "not_an_image"
