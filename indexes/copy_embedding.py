"""A learned whole-image copy descriptor: a small convolutional network, run by OpenCV's DNN module.

ORB needs repeatable corners, and a recoloured, captioned crop of flat clip art keeps few: a
missed copy has a median of 9 inliers against its own work (BENCHMARKS.md, twenty-seventh
session). This network looks at the whole picture instead. It was trained here, on CPU
(``training/``), on clip art that no benchmark seed registers or queries, to place a copy-like
edit of an image (crops, captions, stickers, recolours, frames, turns, JPEG) nearest that image
among a batch of others (InfoNCE, as SSCD does for DISC21). Its weights ship with the package
(``copy_embedding.onnx``); nothing is downloaded.

Seven 3 x 3 convolutions with ReLU (four of stride 2) on a 96 x 96 RGB copy of the image,
generalised-mean pooling and a linear layer to ``DIMENSIONS``; L2-normalised here and stored as
int8. ~2 ms an image on one core. OpenCV's DNN keeps to ``cv2.setNumThreads``; numpy's matrix
products went through OpenBLAS threads that fought the other worker processes (3 ms an image
became 78 ms).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import cv2
import numpy as np

DIMENSIONS = 128
SIDE = 96
MODEL = Path(__file__).with_name("copy_embedding.onnx")
EMPTY = np.zeros(0, np.int8)
# int8 levels of a unit vector's largest possible component.
_SCALE = 127
# The training's input normalisation, (x / 255 - 0.5) / 0.25.
_MEAN = 127.5
_FACTOR = 4 / 255


class _Network:
    """One loaded network; a cv2.dnn.Net holds its input between calls, so one caller at a time."""

    def __init__(self, path: Path) -> None:
        self.net = cv2.dnn.readNetFromONNX(str(path))
        self.lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        # An area resize, as in training (blobFromImage's own resize is bilinear).
        small = cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(small, _FACTOR, mean=(_MEAN, _MEAN, _MEAN))
        with self.lock:
            self.net.setInput(blob)
            out = self.net.forward()
        e = np.asarray(out, np.float32).reshape(-1)
        if len(e) != DIMENSIONS:
            raise ValueError(f"{MODEL.name} gives {len(e)}-d descriptors, not {DIMENSIONS}-d")
        return e / max(float(np.linalg.norm(e)), 1e-12)


@functools.cache
def _network() -> _Network:
    return _Network(MODEL)


def embed(rgb: np.ndarray) -> np.ndarray:
    """(``DIMENSIONS``,) int8 descriptor of an RGB image (a 256 px thumbnail in practice)."""
    e = _network()(np.ascontiguousarray(rgb))
    return np.clip(np.rint(e * _SCALE), -_SCALE, _SCALE).astype(np.int8)
