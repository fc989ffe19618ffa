"""The committed CC0 sample works, and the recoloured, captioned JPEG crops of them that the
learned descriptor's and the lightness maps' tests search for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexes import Engine, Fingerprint, embedding_index, fingerprint
from tests import imagegen

WORKS = sorted((Path(__file__).parent.parent / "samples" / "works").glob("*.png"))
TREE = 20  # 21_fall_coloured_tree: its recoloured, captioned centre crop keeps too few corners


def flat(path: Path) -> Image.Image:
    art = Image.open(path).convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", art.size, (255, 255, 255, 255)), art).convert("RGB")


def recoloured_captioned_crop(path: Path, hue: int, where: str = "centre") -> Fingerprint:
    copy = imagegen.hue_shift(imagegen.caption_bar(imagegen.crop_fraction(flat(path), 0.65, where)), hue)
    return fingerprint(imagegen.encode(copy, "JPEG", quality=50))


@pytest.fixture(scope="module")
def references() -> list[Fingerprint]:
    """The sample works' reference fingerprints (a test module imports this fixture to use it)."""
    return [fingerprint(p.read_bytes(), role="reference") for p in WORKS]


@pytest.fixture
def engine(references: list[Fingerprint]) -> Engine:
    """A fresh engine holding the sample works under their indices in ``WORKS``."""
    engine = Engine()
    for key, fp in enumerate(references):
        engine.add(key, fp)
    return engine


@pytest.fixture
def tree_in_the_background(
    references: list[Fingerprint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The shipped background pictures with the tree among them, as if it were a training picture."""
    tree = references[TREE]
    wholes = np.vstack([np.load(embedding_index.BACKGROUND), tree.embedding[None, :]])
    views = np.concatenate([np.load(embedding_index.BACKGROUND_VIEWS), tree.views[None, :, :]])
    np.save(tmp_path / "background.npy", wholes)
    np.save(tmp_path / "views.npy", views)
    monkeypatch.setattr(embedding_index, "BACKGROUND", tmp_path / "background.npy")
    monkeypatch.setattr(embedding_index, "BACKGROUND_VIEWS", tmp_path / "views.npy")
    _clear_background_caches()
    yield
    monkeypatch.undo()
    _clear_background_caches()


def _clear_background_caches() -> None:
    for cached in (
        embedding_index._background_embeddings,
        embedding_index.background,
        embedding_index._background_wholes,
        embedding_index._background_views,
    ):
        cached.cache_clear()
