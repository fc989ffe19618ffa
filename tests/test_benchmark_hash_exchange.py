"""The hash-exchange benchmark's partner hasher and report (its corpus needs the benchmark cache)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from benchmarks.hash_exchange import markdown, partner_pdq
from indexes.hash_exchange import exchange_pdq
from tests.rights_support import artwork


def test_the_partner_hash_of_a_file_is_its_exchange_hash(tmp_path: Path) -> None:
    opaque = tmp_path / "a.png"
    artwork(3).save(opaque)
    transparent = tmp_path / "b.png"
    layer = Image.new("RGBA", (300, 240), (0, 0, 0, 0))
    ImageDraw.Draw(layer).ellipse(
        (30, 20, 260, 200), fill=(200, 40, 90, 255), outline=(0, 0, 0, 255), width=6
    )
    ImageDraw.Draw(layer).rectangle((90, 80, 150, 170), fill=(20, 120, 220, 255))
    layer.save(transparent)
    for path in (opaque, transparent):
        assert partner_pdq(path) == int(exchange_pdq(path.read_bytes())[0], 16), path.name
    buf = io.BytesIO()
    artwork(3).resize((200, 150)).save(buf, "JPEG", quality=70)
    assert (partner_pdq(opaque) ^ int(exchange_pdq(buf.getvalue())[0], 16)).bit_count() <= 31


def test_the_report_reads_as_a_table() -> None:
    res = {
        "config": {"seed": 0},
        "works": 2,
        "same_file_bits": {
            "exchange": {"median": 0.0, "p95": 0.0, "max": 0, "within_31": 2},
            "engine_view": {"median": 20.0, "p95": 40.0, "max": 50, "within_31": 1},
        },
        "edits": {"sharpen": {"copies": 4, "exchange": 4, "engine_view": 2}},
    }
    text = markdown(res)
    assert "| exchange hash (`rights hashes`) | 0 | 0 | 0 | 2 |" in text
    assert "| sharpen | 4 | 4 | 2 | 2.00× |" in text
