"""The list of background pictures stays row for row with the shipped background descriptors, so
that ``training.background_views`` and a new export write rows the engine pairs up correctly."""

from __future__ import annotations

import numpy as np

from indexes.embedding_index import BACKGROUND, BACKGROUND_VIEWS
from training.pictures import BACKGROUND_LIST


def test_background_list_has_one_name_per_shipped_row() -> None:
    names = BACKGROUND_LIST.read_text().split()
    assert len(names) == np.load(BACKGROUND).shape[0] == np.load(BACKGROUND_VIEWS).shape[0]
    assert all(n.startswith("clipart") and n.endswith(".png") for n in names)
