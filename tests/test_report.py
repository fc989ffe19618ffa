"""The HTML report, opened in a real headless Chromium: what a person sees on the page."""

from __future__ import annotations

import base64
import io
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rights.evidence import pixels_b64, thumbnail_b64
from tests.chromium import CHROMIUM, SKIP_REASON, dump_dom
from workers.report import Summary, write_report


def _image(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", size)
    img.putdata([(rng.randrange(256), rng.randrange(256), 40) for _ in range(size[0] * size[1])])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _findings() -> list[dict]:
    fox = {
        "work_id": 3,
        "creator": "ana",
        "title": "Red Fox",
        "score": 0.93,
        "verdict": "match",
        "kind": "partial",
        "region": [20, 10, 80, 60],
        "licensed": False,
    }
    owl = {**fox, "work_id": 4, "title": "Night Owl", "score": 0.55, "verdict": "review", "region": None}
    return [
        {
            "listing_id": "a1",
            "platform": "bazaar",
            "verdict": "match",
            "matches": [fox],
            "error": None,
            "title": "Fox <b>poster</b> A3",
            "url": "https://bazaar.example/a1",
        },
        {"listing_id": "a2", "platform": "bazaar", "verdict": "clear", "matches": [], "error": None},
        {
            "listing_id": "b1",
            "platform": "kiosk",
            "verdict": "review",
            "matches": [owl],
            "error": None,
            "title": "Owl tee \u202egnp.exe\x1b[2J",  # would display as "Owl tee exe.png"
        },
        {"listing_id": "b2", "platform": "kiosk", "verdict": "error", "matches": [], "error": "line 4: bad"},
        {"listing_id": "b3", "platform": "kiosk", "verdict": "clear", "matches": [], "error": None},
    ]


def _write(path: Path) -> None:
    summary = Summary()
    hits = []
    query, size = thumbnail_b64(_image(1))
    work, _ = thumbnail_b64(_image(2))
    for f in _findings():
        summary.add(f)
        if f["verdict"] in ("match", "review"):
            evidence = {
                "query_thumb": query,
                "query_size": list(size),
                "work_thumbs": {str(f["matches"][0]["work_id"]): work},
            }
            hits.append((f, evidence))
    write_report(path, summary=summary, hits=hits, title="Scan of test feed")


def test_report_is_self_contained(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    _write(page)
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "<b>poster</b>" not in text
    assert not re.search(r'(src|href)="(?!data:|https://bazaar\.example/)', text)
    assert text.count("data:image/jpeg;base64,") == 4
    assert "\u202e" not in text and "Owl tee \\u202egnp.exe" in text  # a bidi override, shown as one
    assert "\x1b" not in text and "gnp.exe\\u001b[2J" in text  # and a terminal control


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_report_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    _write(page)
    dom = dump_dom(page)
    text = " ".join(_visible_text(dom).split())
    assert "5 listings scanned: 1 match, 1 review, 2 clear, 1 error" in text
    rows = _table_rows(dom)
    assert rows["bazaar"] == ["1", "0", "1", "0", "2"]
    assert rows["kiosk"] == ["0", "1", "1", "1", "3"]
    assert "Fox <b>poster</b> A3" in text  # the hit's title, shown as text, not markup
    assert "Registered work “Red Fox” by ana" in text and "score 0.930" in text
    assert "Owl tee" in text


def _visible_text(dom: str) -> str:
    chunks: list[str] = []

    class Text(HTMLParser):
        skip = 0

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.skip += tag in ("style", "title")

        def handle_endtag(self, tag: str) -> None:
            self.skip -= tag in ("style", "title")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                chunks.append(data)

    Text().feed(dom)
    return " ".join(chunks)


def _table_rows(dom: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", dom, flags=re.S):
        cells = re.findall(r"<t[dh]>(.*?)</t[dh]>", row)
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_evidence_from_decoded_pixels_is_a_small_jpeg() -> None:
    rgb = np.zeros((300, 600, 3), np.uint8)
    rgb[:, :300] = (200, 30, 30)
    with Image.open(io.BytesIO(base64.b64decode(pixels_b64(rgb)))) as img:
        assert img.format == "JPEG" and img.size == (256, 128)
        assert img.getpixel((10, 64))[0] > 150 and img.getpixel((250, 64))[0] < 60


def test_a_report_shows_at_most_max_hits_and_says_how_many_more(tmp_path: Path) -> None:
    summary = Summary()
    query, size = thumbnail_b64(_image(1))
    fox = _findings()[0]
    hits = []
    for i in range(5):
        finding = {**fox, "listing_id": f"a{i}", "title": f"poster {i}"}
        summary.add(finding)
        hits.append((finding, {"query_thumb": query, "query_size": list(size)}))
    taken: list[str] = []

    def streamed():  # the report stops reading hits it will not show
        for finding, evidence in hits:
            taken.append(finding["listing_id"])
            yield finding, evidence

    page = tmp_path / "report.html"
    write_report(page, summary=summary, hits=streamed(), max_hits=3)
    text = page.read_text(encoding="utf-8")
    assert text.count('<section class="hit">') == 3 and "poster 2" in text and "poster 3" not in text
    assert "Showing the first 3 of 5 hits, in feed order." in text
    assert taken == ["a0", "a1", "a2"]
    assert "5 listings scanned: 5 match" in text  # the summary still counts every listing
    write_report(page, summary=summary, hits=iter(hits), max_hits=5)
    assert 'id="more"' not in page.read_text(encoding="utf-8")


def test_a_hit_shows_listing_text_briefly(tmp_path: Path) -> None:
    """Each hit printed its title, seller and address whole (twice for the address): 20 hits of
    300,000 characters made a 25 MB page (an audit)."""
    summary = Summary()
    owl = {"work_id": "w_9", "creator": "ann", "title": "Owl", "score": 0.9, "verdict": "match",
           "kind": "partial", "region": None, "licensed": False}  # fmt: skip
    finding = {"listing_id": "x" * 5000, "platform": "bazaar", "verdict": "match", "matches": [owl],
               "error": None, "title": "t" * 300_000, "seller": "s" * 300_000,
               "url": "https://bazaar.example/" + "u" * 300_000}  # fmt: skip
    summary.add(finding)
    page = tmp_path / "report.html"
    write_report(page, summary=summary, hits=[(finding, {})], title="long")
    text = page.read_text(encoding="utf-8")
    assert len(text) < 20_000 and "t" * 299 + "…" in text and "t" * 300 not in text
    assert 'href="https://bazaar.example/uuu' not in text  # too long to link; shown briefly instead


def test_a_listing_address_holding_controls_is_shown_not_linked(tmp_path: Path) -> None:
    """The link's target carried the escape its text shows ("\\u200e"), another address (an audit)."""
    summary = Summary()
    owl = {"work_id": "w_9", "creator": "ann", "title": "Owl", "score": 0.9, "verdict": "match",
           "kind": "partial", "region": None, "licensed": False}  # fmt: skip
    finding = {"listing_id": "L1", "platform": "bazaar", "verdict": "match", "matches": [owl],
               "error": None, "title": "t", "url": "https://bazaar.example/r-4\u200e"}  # fmt: skip
    summary.add(finding)
    page = tmp_path / "report.html"
    write_report(page, summary=summary, hits=[(finding, {})], title="controls")
    text = page.read_text(encoding="utf-8")
    assert "https://bazaar.example/r-4\\u200e" in text and 'href="https://bazaar.example/r-4' not in text
