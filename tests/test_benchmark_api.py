"""The HTTP benchmark's own parts: images, query mix, percentiles, the offline filler, the table."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.api import (
    COPY_KINDS,
    Row,
    _pct,
    artwork_png,
    build_queries,
    copy_of,
    fill_synthetic,
    saved_index_works,
    table,
)
from rights.registry import Registry


def test_artworks_are_seeded_distinct_pngs_of_about_600_px() -> None:
    first, again, other = artwork_png(1), artwork_png(1), artwork_png(2)
    assert first == again and first != other
    with Image.open(io.BytesIO(first)) as im:
        assert im.format == "PNG" and 560 <= im.width <= 660 and 560 <= im.height <= 660


@pytest.mark.parametrize("kind", COPY_KINDS)
def test_copies_are_jpegs_with_other_bytes(kind: str) -> None:
    data = copy_of(3, kind)
    assert data[:3] == b"\xff\xd8\xff" and data != artwork_png(3)


def test_queries_are_three_copies_per_unrelated_image() -> None:
    queries = build_queries({1: "w_1", 2: "w_2"}, 12, seed=0)
    assert [q.kind for q in queries].count("unrelated") == 3
    assert {q.kind for q in queries if q.expected} == set(COPY_KINDS)
    assert all((q.expected is None) == (q.kind == "unrelated") for q in queries)


def test_percentile_agrees_with_numpy() -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 50, 90, 99, 100):
        assert _pct(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_filler_rows_are_indexed_by_the_startup_reconciliation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        for seed in (1, 2):
            reg.register("alice", artwork_png(seed))
        log_size = reg.log.size()
    fill = fill_synthetic(data, 12)
    assert fill["filler_rows"] == 10
    assert saved_index_works(data) == 2  # the filler is not in the saved index yet
    with Registry.open(data) as reg:  # what `rights serve` does at startup
        assert len(reg.engine) == 12
        assert reg.log.size() == log_size  # filler never touches the transparency log
    assert saved_index_works(data) == 12


def test_table_has_the_promised_columns() -> None:
    match = {"p50_ms": 1.0, "p99_ms": 2.0, "per_s": 3.0, "server_took_p50_ms": 0.5}
    row = Row(10, 5, 5, {"per_s": 4.0}, 1.5, match)
    text = table([row])
    header = "works, registrations/s, match p50 ms, match p99 ms, matches/s, server took_ms p50, startup s"
    assert text.splitlines()[0] == "| " + header.replace(", ", " | ") + " |"
    assert "| 10 | 4.0 (first 5) | 1.0 | 2.0 | 3.0 | 0.5 | 1.5 |" in text
