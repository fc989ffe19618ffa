"""Shared helpers for the rights tests: seeded synthetic artwork, near-duplicates, a live uvicorn server."""

from __future__ import annotations

import io
import random
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from PIL import Image, ImageDraw

from rights.api.http_protocol import server_config

with warnings.catch_warnings():
    # Starlette 1.x nags that its TestClient wants `httpx2`; plain httpx works and is what we ship.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = [
    "TestClient",
    "artwork",
    "artwork_png",
    "free_port",
    "live_server",
    "near_copy",
    "plain_png",
    "png",
]


def artwork(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A busy, unique picture: random shapes, lines and text from ``random.Random(seed)``."""
    rng = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = (x0, y0, x0 + rng.randrange(10, w // 2), y0 + rng.randrange(10, h // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice((draw.rectangle, draw.ellipse))
        shape(box, fill=colour, outline=(0, 0, 0), width=2)
    for _ in range(15):
        pts = [(rng.randrange(w), rng.randrange(h)) for _ in range(2)]
        draw.line(pts, fill=tuple(rng.randrange(256) for _ in range(3)), width=rng.randrange(1, 5))
    for i in range(4):
        draw.text((rng.randrange(w - 80), rng.randrange(h - 20)), f"art {seed}.{i}", fill=(255, 255, 255))
    return im


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def artwork_png(seed: int) -> bytes:
    return png(artwork(seed))


def near_copy(seed: int) -> bytes:
    """The artwork resized and re-encoded as JPEG: other bytes, same picture."""
    im = artwork(seed)
    buf = io.BytesIO()
    im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def plain_png() -> bytes:
    """A flat colour: too little information to register."""
    return png(Image.new("RGB", (300, 300), (200, 30, 30)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
