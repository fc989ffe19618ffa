"""Takedown notices carry every element §512(c)(3) and PRC Art. 14 ask for, in each format and language."""

from __future__ import annotations

import io
import json
import logging
import random
import sqlite3
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from rights import cases, db
from rights.api.http_protocol import server_config
from rights.evidence import thumbnail_b64
from rights.notices import RightsHolder, build_notice, render_notice

# A right-to-left override makes "gnp.exe" read as "exe.png" in the rest of the line.
HOSTILE_TITLE = "Fox mug <script>alert(1)</script> [click](javascript:x) \u202egnp.exe\x1b]0;pwned\x07"
WORK = {
    "work_id": "w_7",
    "creator": "ana",
    "title": "Red Fox",
    "sha256": "ab" * 32,
    "registered_at": "2024-05-01T10:00:00.000Z",
    "log_index": 41,
    "receipt": {
        "log_index": 41,
        "checkpoint": {
            "tree_size": 42,
            "root_hash": "cd" * 32,
            "timestamp": "2024-05-01T10:00:00.000Z",
            "key_id": "0123456789abcdef",
            "signature": "c2ln",
        },
        "inclusion_proof": [],
    },
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


HOLDER = RightsHolder("ana", "ana@example.org, 1 Example Street, Springfield", "Ana Example")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_json_notice_has_every_element(case: cases.Case, lang: str) -> None:
    notice = json.loads(render_notice(build_notice(case, holder=HOLDER, work=WORK, lang=lang), "json"))
    assert notice["rights_holder"] == {
        "name": "Ana Example",
        "account": "ana",
        "contact": HOLDER.contact,
    }  # 512 (iv); Art.14 (1)
    assert notice["signature"]["electronic"] == "/Ana Example/"  # 512 (i)
    assert notice["missing"] == []
    assert notice["work"]["title"] == "Red Fox" and notice["work"]["log_index"] == 41  # 512 (ii)
    assert notice["work"]["receipt"]["checkpoint"]["tree_size"] == 42
    material = notice["infringing_material"]  # 512 (iii); Art.14 (2)
    assert material["url"] == "https://bazaar.example/item/9" and material["title"] == HOSTILE_TITLE
    assert material["image_url"] == "https://cdn.bazaar.example/9.jpg"
    evidence = notice["evidence"]  # Art.14 (3)
    assert evidence["score"] == 0.91 and evidence["region"] == [10, 10, 50, 40]
    assert evidence["image_size"] == [120, 90] and evidence["first_detected_at"] == case.created_at
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
        "tree size 42, root hash " + "cd" * 32,
        "verify-receipt",
        "partial copy (the work appears within the listing image)",
        "10, 10, 50, 40 of 120 x 90",
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
        "伪证责任",  # §512(c)(3)(A)(vi), cited in the Chinese notice too; it was left out
        "被指控受侵害",
        "以所投诉的方式使用",
        "(A)；《信息网络传播权保护条例》第十四条",  # full-width punctuation in Chinese text
        "**作品名称**：Red Fox",
        "局部使用（作品出现在商品图片中）",  # the kind of copy, translated
        "签名（盖章）：/Ana Example/",
        "https://bazaar.example/item/9",
    ):
        assert words in md, words
    assert "partial" not in md
    page = render_notice(notice, "html")
    assert '<html lang="zh-CN">' in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_what_the_registry_does_not_know_is_left_for_the_holder(case: cases.Case) -> None:
    """The account name is no legal name and no signature: without the holder's name and contact,
    both are placeholders (null and listed in JSON), never the login handle signed on their behalf."""
    for lang, placeholder, unsigned in (
        ("en", "[to be completed by the rights holder]", "[to be signed by the rights holder]"),
        ("zh", "【由权利人填写】", "【由权利人签名或盖章】"),
    ):
        notice = build_notice(case, holder=RightsHolder("ana"), work=WORK, lang=lang)
        assert notice["rights_holder"] == {"name": None, "account": "ana", "contact": None}
        assert notice["signature"] == {"name": None, "electronic": None}
        assert notice["missing"] == ["rights_holder.name", "rights_holder.contact", "signature"]
        for fmt in ("md", "html"):
            text = render_notice(notice, fmt)
            assert text.count(placeholder) == 2 and unsigned in text, (lang, fmt)
            assert "/ana/" not in text and "ana" in text  # the account is shown as the account


def test_only_web_addresses_are_printed_as_the_listing_address(tmp_path: Path) -> None:
    scripted = _scripted(tmp_path, listing_id="L-1", url="javascript:alert(1)", image="in/l1.jpg")
    upper = _scripted(tmp_path, listing_id="L-2", url="HTTPS://P.EXAMPLE/2")
    notice = build_notice(scripted, holder=HOLDER, work=WORK)
    material = notice["infringing_material"]
    assert material["url"] is None and material["image_url"] is None  # nor the scanner's local path
    assert notice["missing"] == ["infringing_material.title", "infringing_material.url"]
    for fmt in ("md", "html", "json"):
        assert "javascript:" not in render_notice(notice, fmt) and "in/l1.jpg" not in render_notice(
            notice, fmt
        )
    assert '<a href="HTTPS://P.EXAMPLE/2">' in render_notice(
        build_notice(upper, holder=HOLDER, work=WORK), "html"
    )


def _scripted(tmp_path: Path, **listing: str) -> cases.Case:
    """A case whose listing has the given fields (and an id, a platform and an image)."""
    conn: sqlite3.Connection = db.connect(tmp_path)
    match = {"work_id": "w_7", "creator": "ana", "title": "Red Fox", "score": 0.9, "verdict": "match"}
    with db.transaction(conn):
        recorded = cases.record_hit(
            conn,
            match={**match, "kind": "near", "region": None, "licensed": False},
            listing={"listing_id": "L-9", "platform": "p", "image": "x.jpg", **listing},
            evidence={},
            scan_id="scan_1",
        )
    conn.close()
    return recorded


@pytest.mark.parametrize("title", [None, "   "])
def test_a_listing_without_a_title_is_flagged_not_left_out(tmp_path: Path, title: str | None) -> None:
    """PRC Art. 14 (2) asks for the material's name: the row was left out, or printed empty, and
    ``missing`` said nothing (an audit)."""
    fields = {"url": "https://p.example/9"} | ({} if title is None else {"title": title})
    notice = build_notice(_scripted(tmp_path, **fields), holder=HOLDER, work=WORK)
    assert notice["infringing_material"]["title"] is None
    assert notice["missing"] == ["infringing_material.title"]
    assert "- **Listing title**: [to be completed by the rights holder]" in render_notice(notice, "md")
    zh = render_notice(build_notice(_scripted(tmp_path, **fields), holder=HOLDER, work=WORK, lang="zh"), "md")
    assert "【由权利人填写】" in zh.split("商品标题", 1)[1].splitlines()[0]


def test_a_web_address_without_its_scheme_is_shown_as_text(tmp_path: Path) -> None:
    """ "www.shop.example/item/1" was dropped and the address reported missing (an audit)."""
    notice = build_notice(
        _scripted(tmp_path, url="www.shop.example/item/1", title="T"), holder=HOLDER, work=WORK
    )
    material = notice["infringing_material"]
    assert material["url"] is None and material["address"] == "www.shop.example/item/1"
    assert notice["missing"] == []
    page = render_notice(notice, "html")
    assert "<dd>www.shop.example/item/1</dd>" in page and 'href="www.' not in page
    assert "- **Listing URL**: www.shop.example/item/1" in render_notice(notice, "md")


def test_markdown_shows_entities_and_tildes_as_written(tmp_path: Path) -> None:
    """ "A&amp;B" rendered as "A&B", and "~~sale~~" struck through (an audit)."""
    notice = build_notice(
        _scripted(tmp_path, url="https://p.example/9", title="Tom &amp; Jerry ~~sale~~"),
        holder=HOLDER,
        work=WORK,
    )
    assert "- **Listing title**: Tom \\&amp; Jerry \\~\\~sale\\~\\~" in render_notice(notice, "md")


def test_an_address_holding_controls_is_shown_but_not_linked(tmp_path: Path) -> None:
    """The link target carried the six characters "\\u200e" the text shows, not the address (an audit)."""
    notice = build_notice(
        _scripted(tmp_path, url="https://x.example/r-4\u200e", title="T", seller="x\u061cy"),
        holder=HOLDER,
        work=WORK,
    )
    page = render_notice(notice, "html")
    assert "<a " not in page and "https://x.example/r-4\\u200e" in page
    assert "\u061c" not in page and "x\\u061cy" in page  # the Arabic letter mark, a bidi control too


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
        # Nor terminal controls: ESC and BEL retitled the window of whoever printed the notice (an audit).
        where = text.find("\x1b")
        assert where < 0, (fmt, text[max(0, where - 80) : where + 20])
        assert "\x07" not in text and "pwned\\u0007" in text, fmt


def test_a_notices_contact_details_stay_out_of_the_servers_access_log() -> None:
    """They travel as query parameters of GET /v1/cases/{id}/notice, which uvicorn logs whole."""

    async def app(scope: object, receive: object, send: object) -> None:  # never called
        raise AssertionError

    server_config(app)
    access = logging.getLogger("uvicorn.access")
    path = "/v1/cases/3/notice?format=md&contact=1%20Home%20St&holder_name=Ann%20Lee&lang=zh"
    fmt = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access record
    record = access.makeRecord(
        access.name, logging.INFO, __file__, 1, fmt, ("a:1", "GET", path, "1.1", 200), None
    )
    assert access.filter(record)
    line = record.getMessage()
    assert "Home" not in line and "Ann" not in line, line
    assert "?format=md&contact=[redacted]&holder_name=[redacted]&lang=zh" in line
    # Keys the app decodes (``%63ontact``, ``holder%5Fname``) are redacted too: an audit found them in clear.
    sneaky = "/v1/cases/3/notice?%63ontact=555-0100&holder%5Fname=Ann+Lee&contact"
    record = access.makeRecord(
        access.name, logging.INFO, __file__, 1, fmt, ("a:1", "GET", sneaky, "1.1", 200), None
    )
    assert access.filter(record)
    assert record.getMessage().endswith(
        '?%63ontact=[redacted]&holder%5Fname=[redacted]&contact HTTP/1.1" 200'
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_markdown_keeps_the_lines_of_the_contact_details(case: cases.Case, lang: str) -> None:
    """A postal address over three lines came out as one run-on line (an audit)."""
    holder = RightsHolder("ana", "12 Quay St\nLagos *Island*\n+234 1 555 0100", "Ana Example")
    md = render_notice(build_notice(case, holder=holder, work=WORK, lang=lang, date="2024-06-01"), "md")
    assert "12 Quay St  \n  Lagos \\*Island\\*  \n  +234 1 555 0100\n" in md
