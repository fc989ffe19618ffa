"""Takedown notices carry every element §512(c)(3) and PRC Art. 14 ask for, in each format and language."""

from __future__ import annotations

import io
import json
import random
import sqlite3
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from rights import cases, db
from rights.evidence import thumbnail_b64
from rights.notices import RightsHolder, build_notice, render_notice

# A right-to-left override makes "gnp.exe" read as "exe.png" in the rest of the line.
HOSTILE_TITLE = "Fox mug <script>alert(1)</script> [click](javascript:x) \u202egnp.exe"
WORK = {
    "work_id": "w_7",
    "creator": "ana",
    "title": "Red Fox",
    "sha256": "ab" * 32,
    "registered_at": "2024-05-01T10:00:00.000Z",
    "log_index": 41,
    "receipt": {"log_index": 41, "tree_size": 42, "signature": "c2ln"},
}


def _image(seed: int) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (120, 90))
    img.putdata([(rng.randrange(256), rng.randrange(256), 90) for _ in range(120 * 90)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def case(tmp_path: Path) -> Iterator[cases.Case]:
    conn: sqlite3.Connection = db.connect(tmp_path)
    query_thumb, size = thumbnail_b64(_image(1))
    work_thumb, _ = thumbnail_b64(_image(2))
    match = {
        "work_id": "w_7",
        "creator": "ana",
        "title": "Red Fox",
        "score": 0.91,
        "verdict": "match",
        "kind": "partial",
        "region": [10, 10, 50, 40],
        "licensed": False,
    }
    listing = {
        "listing_id": "L-9",
        "platform": "bazaar",
        "title": HOSTILE_TITLE,
        "url": "https://bazaar.example/item/9",
        "seller": "cheapprints",
        "image": "https://cdn.bazaar.example/9.jpg",
    }
    evidence = {"query_thumb": query_thumb, "query_size": list(size), "work_thumb": work_thumb}
    with db.transaction(conn):
        yield cases.record_hit(conn, match=match, listing=listing, evidence=evidence, scan_id="scan_1")
    conn.close()


HOLDER = RightsHolder("Ana Example", "ana@example.org, 1 Example Street, Springfield")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_json_notice_has_every_element(case: cases.Case, lang: str) -> None:
    notice = json.loads(render_notice(build_notice(case, holder=HOLDER, work=WORK, lang=lang), "json"))
    assert notice["rights_holder"] == {
        "name": "Ana Example",
        "contact": HOLDER.contact,
    }  # 512 (iv); Art.14 (1)
    assert notice["signature"]["electronic"] == "/Ana Example/"  # 512 (i)
    assert notice["work"]["title"] == "Red Fox" and notice["work"]["log_index"] == 41  # 512 (ii)
    assert notice["work"]["receipt"]["tree_size"] == 42
    material = notice["infringing_material"]  # 512 (iii); Art.14 (2)
    assert material["url"] == "https://bazaar.example/item/9" and material["title"] == HOSTILE_TITLE
    evidence = notice["evidence"]  # Art.14 (3)
    assert evidence["score"] == 0.91 and evidence["region"] == [10, 10, 50, 40]
    assert evidence["query_image_jpeg_base64"] and evidence["work_image_jpeg_base64"]
    assert set(notice["statements"]) == {
        "good_faith",
        "accuracy_and_authority",
        "responsibility",
    }  # 512 (v)(vi)


def test_english_markdown_and_html(case: cases.Case) -> None:
    notice = build_notice(case, holder=HOLDER, work=WORK, lang="en", date="2024-06-01")
    md = render_notice(notice, "md")
    for words in (
        "good faith belief",
        "under penalty of perjury",
        "ana@example.org",
        "Red Fox",
        "https://bazaar.example/item/9",
        "Transparency log index**: 41",
        "0.910",
        "/Ana Example/",
        "512(c)(3)",
        "data:image/jpeg;base64,",
    ):
        assert words in md, words
    assert "<script>" not in md and "\\[click\\]" in md
    page = render_notice(notice, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    text = _visible_text(page)
    assert "under penalty of perjury" in text and "Ana Example" in text and "2024-06-01" in text
    assert page.count("<img ") == 2
    # The copy's own address locates the material even when a feed gives no listing page URL.
    assert "Image URL (the copy itself)**: https://cdn.bazaar.example/9.jpg" in md
    assert '<a href="https://cdn.bazaar.example/9.jpg">' in page


def test_chinese_notice(case: cases.Case) -> None:
    notice = build_notice(case, holder=HOLDER, work=WORK, lang="zh")
    md = render_notice(notice, "md")
    for words in (
        "侵权通知书",
        "权利人",
        "联系方式和地址",
        "网络地址",
        "初步证明材料",
        "真实性负责",
        "在伪证处罚下声明",  # §512(c)(3)(A)(vi), cited in the Chinese notice too; it was left out
        "《信息网络传播权保护条例》第十四条",
        "https://bazaar.example/item/9",
    ):
        assert words in md, words
    assert '<html lang="zh">' in render_notice(notice, "html")


def test_missing_contact_is_marked_for_the_holder(case: cases.Case) -> None:
    notice = build_notice(case, holder=RightsHolder("Ana"), work=WORK, lang="en")
    assert notice["rights_holder"]["contact"] == "[to be completed by the rights holder]"


def _visible_text(page: str) -> str:
    chunks: list[str] = []

    class Text(HTMLParser):
        def handle_data(self, data: str) -> None:
            chunks.append(data)

    Text().feed(page)
    return " ".join(chunks)


def test_bidirectional_controls_in_listing_text_are_shown_not_obeyed(case: cases.Case) -> None:
    notice = build_notice(case, holder=HOLDER, work=WORK)
    for fmt in ("md", "html"):
        text = render_notice(notice, fmt)
        assert "\u202e" not in text and "\\u202egnp.exe" in text, fmt
