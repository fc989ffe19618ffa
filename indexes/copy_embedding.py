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
# A registered work is also described as five crops (its four corners and its centre, each
# ``CROP_SIDE`` of its width and height): a cropped copy, captioned and recoloured, is nearer the
# crop it shows than the whole work, and clearly nearer it than the next work more often
# (BENCHMARKS.md, forty-first session).
CROP_SIDE = 0.8
VIEWS = 5
NO_VIEWS = np.zeros((0, DIMENSIONS), np.int8)
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

    def __call__(self, rgbs: list[np.ndarray]) -> np.ndarray:
        """(len(rgbs), ``DIMENSIONS``) unit descriptors, in one forward pass."""
        # An area resize, as in training (blobFromImage's own resize is bilinear).
        small = [
            cv2.resize(np.ascontiguousarray(rgb), (SIDE, SIDE), interpolation=cv2.INTER_AREA) for rgb in rgbs
        ]
        blob = cv2.dnn.blobFromImages(small, _FACTOR, mean=(_MEAN, _MEAN, _MEAN))
        with self.lock:
            self.net.setInput(blob)
            out = self.net.forward()
        e = np.asarray(out, np.float32).reshape(len(rgbs), -1)
        if e.shape[1] != DIMENSIONS:
            raise ValueError(f"{MODEL.name} gives {e.shape[1]}-d descriptors, not {DIMENSIONS}-d")
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


@functools.cache
def _network() -> _Network:
    return _Network(MODEL)


def embed(rgb: np.ndarray) -> np.ndarray:
    """(``DIMENSIONS``,) int8 descriptor of an RGB image (a 256 px thumbnail in practice)."""
    return _quantised(_network()([rgb])[0])


def crops(rgb: np.ndarray) -> list[np.ndarray]:
    """The ``VIEWS`` crops of ``rgb`` that ``embed_work`` describes: four corners, then the centre."""
    h, w = rgb.shape[:2]
    ch, cw = max(8, round(h * CROP_SIDE)), max(8, round(w * CROP_SIDE))
    corners = ((0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2))
    return [rgb[max(0, y) : max(0, y) + ch, max(0, x) : max(0, x) + cw] for y, x in corners]


def embed_work(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A registered work's ``embed(rgb)`` and the (``VIEWS``, ``DIMENSIONS``) int8 descriptors of
    ``crops(rgb)``, in one forward pass of six pictures (the same descriptors as one at a time; a
    pass of one then one of five cost more than this)."""
    e = _quantised(_network()([rgb, *crops(rgb)]))
    return e[0], e[1:]


def _quantised(e: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(e * _SCALE), -_SCALE, _SCALE).astype(np.int8)
