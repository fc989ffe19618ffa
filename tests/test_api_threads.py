"""The server's parallelism is its concurrent requests, so OpenCV must not also fan out per call."""

from __future__ import annotations

from pathlib import Path

import cv2

from rights.api.app import create_app
from rights.config import Settings
from tests.rights_support import TestClient


def test_the_server_pins_opencv_to_one_thread(tmp_path: Path) -> None:
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with TestClient(create_app(Settings(data=tmp_path))) as client:
            assert client.get("/healthz").status_code == 200
            assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)
