"""Feed reading: every kind of broken line becomes an error item with its line number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.feeds import FeedError, Listing, read_feed


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ok(ident: str, image: str = "img/a.jpg", **extra: object) -> str:
    return json.dumps({"listing_id": ident, "platform": "shopa", "image": image, **extra})


def test_good_lines_resolve_paths_and_keep_unknown_keys(tmp_path: Path) -> None:
    feed = _write_jsonl(
        tmp_path / "feed.jsonl",
        [
            _ok("a", title="Cat", seller="s1", colour="blue"),
            _ok("b", image="https://cdn.example/x.png"),
            _ok("c", image="HTTPS://cdn.example/Y.png"),
        ],
    )
    items = list(read_feed(feed))
    assert [n for n, _ in items] == [1, 2, 3]
    first, second = items[0][1], items[1][1]
    assert isinstance(first, Listing) and isinstance(second, Listing)
    assert first.image == str((tmp_path / "img" / "a.jpg").resolve())
    assert first.raw["colour"] == "blue" and first.title == "Cat" and first.seller == "s1"
    assert second.image == "https://cdn.example/x.png" and second.is_url
    third = items[2][1]
    assert isinstance(third, Listing) and third.is_url and third.image == "https://cdn.example/Y.png"


def test_every_kind_of_bad_line(tmp_path: Path) -> None:
    outside = tmp_path.parent / "secret.jpg"
    lines = [
        _ok("good1"),
        "{not json",
        "[1, 2, 3]",
        json.dumps({"platform": "shopa", "image": "a.jpg"}),
        json.dumps({"listing_id": "x1", "image": "a.jpg"}),
        json.dumps({"listing_id": "x2", "platform": "shopa"}),
        json.dumps({"listing_id": 17, "platform": "shopa", "image": "a.jpg"}),
        json.dumps({"listing_id": "x3", "platform": "shopa", "image": "a.jpg", "title": ["t"]}),
        _ok("good1"),
        _ok("x4", image="../secret.jpg"),
        _ok("x5", image=str(outside)),
        _ok("x6", image="file:///etc/passwd"),
        _ok("x7", image="ftp://host/a.png"),
        "",
        _ok("good2"),
    ]
    feed = _write_jsonl(tmp_path / "feed.jsonl", lines)
    items = list(read_feed(feed))
    errors = {n: item for n, item in items if isinstance(item, FeedError)}
    goods = [item.listing_id for _, item in items if isinstance(item, Listing)]
    assert goods == ["good1", "good2"]
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    words = {
        2: "invalid JSON",
        3: "expected a JSON object",
        4: "missing 'listing_id'",
        5: "missing 'platform'",
        6: "missing 'image'",
        7: "'listing_id' must be a string",
        8: "'title' must be a string",
        9: "duplicate listing_id 'good1' (first on line 1)",
        10: "outside the allowed folders",
        11: "outside the allowed folders",
        12: "only http(s) URLs or file paths",
        13: "only http(s) URLs or file paths",
    }
    for line_no, word in words.items():
        assert word in errors[line_no].message, (line_no, errors[line_no].message)
        assert errors[line_no].line_no == line_no
    assert errors[9].listing_id == "good1" and errors[5].listing_id == "x1"


def test_extra_roots_and_url_only_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    feed_dir = tmp_path / "feeds"
    feed_dir.mkdir()
    feed = _write_jsonl(
        feed_dir / "f.jsonl", [_ok("a", image="../shared/a.jpg"), _ok("b", image="http://h/x.png")]
    )
    (ok,) = [i for _, i in read_feed(feed, allowed_roots=[feed_dir, shared]) if i.listing_id == "a"]
    assert isinstance(ok, Listing) and ok.image == str((shared / "a.jpg").resolve())
    url_only = [i for _, i in read_feed(feed, allowed_roots=[])]
    assert isinstance(url_only[0], FeedError) and "local paths are not accepted" in url_only[0].message
    assert isinstance(url_only[1], Listing)


def test_csv_feed_same_columns(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "listing_id,platform,image,title,extra\n"
        'c1,shopb,pics/1.jpg,"A, quoted title",x\n'
        "c2,shopb,,no image,\n"
        "c3,shopb,pics/3.jpg\n"
        "\n"
        'c4,shopb,pics/4.jpg,"multi\nline",y\n'
        "c1,shopb,pics/5.jpg,dup,\n"
        "c6,shopb,pics/6.jpg,,\n",
        encoding="utf-8",
    )
    items = list(read_feed(feed))
    by_line = dict(items)
    assert isinstance(by_line[2], Listing) and by_line[2].title == "A, quoted title"
    assert by_line[2].raw["extra"] == "x"
    assert isinstance(by_line[3], FeedError) and "missing 'image'" in by_line[3].message
    assert isinstance(by_line[4], FeedError) and "columns" in by_line[4].message
    assert (by_line[4].listing_id, by_line[4].platform) == ("c3", "shopb")  # the error names its listing
    assert isinstance(by_line[6], Listing) and by_line[6].title == "multi\nline"
    assert isinstance(by_line[8], FeedError) and "duplicate" in by_line[8].message
    # An empty title is absent, as a missing JSON key; an empty unknown cell passes through as "".
    assert isinstance(by_line[9], Listing) and "title" not in by_line[9].raw and by_line[9].raw["extra"] == ""


@pytest.mark.parametrize("name", ["feed.txt", "feed.jsonl", "feed"])
def test_a_csv_feed_under_another_name_is_read_as_csv(tmp_path: Path, name: str) -> None:
    """Told apart by the suffix alone, every row of a CSV named otherwise was "invalid JSON" (an audit)."""
    feed = tmp_path / name
    feed.write_text("\ufeffimage,listing_id,platform\npics/1.jpg,c1,shopb\n", encoding="utf-8")
    ((line_no, listing),) = list(read_feed(feed))
    assert line_no == 2 and isinstance(listing, Listing) and listing.listing_id == "c1"


def test_a_json_lines_feed_is_never_taken_for_csv(tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_text(
        '{"listing_id": "j1", "platform": "shopb", "image": "a.jpg"}\nlisting_id,platform,image\n'
    )
    (first, second) = list(read_feed(feed))
    assert isinstance(first[1], Listing) and first[1].listing_id == "j1"
    assert isinstance(second[1], FeedError) and "invalid JSON" in second[1].message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_feed_is_read_as_text(tmp_path: Path, encoding: str) -> None:
    """Windows tools save "Unicode" text as UTF-16: read as UTF-8, two listings were three errors,
    and a CSV header naming every column was said to lack them (an audit)."""
    bom = {"utf-16": "", "utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}[encoding]
    jsonl = tmp_path / "feed.jsonl"
    lines = ['{"listing_id": "é1", "platform": "shopb", "image": "a.jpg"}', "", '{"listing_id": "j2", '
             '"platform": "shopb", "image": "b.jpg"}']  # fmt: skip
    jsonl.write_text(bom + "\n".join(lines) + "\n", encoding=encoding)
    items = list(read_feed(jsonl))
    assert [(n, i.listing_id) for n, i in items if isinstance(i, Listing)] == [(1, "é1"), (3, "j2")]
    assert len(items) == 2
    csv_feed = tmp_path / "feed.txt"
    rows_text = ["listing_id,platform,image,title", 'c1,shopb,a.jpg,"two\r\nlines"', "c2,shopb,b.jpg,é"]
    csv_feed.write_text(bom + "\r\n".join(rows_text) + "\r\n", encoding=encoding)
    rows = list(read_feed(csv_feed))
    assert [(n, i.listing_id) for n, i in rows if isinstance(i, Listing)] == [(2, "c1"), (4, "c2")]
    assert rows[1][1].title == "é" and len(rows) == 2


def test_streams_without_loading_whole_file(tmp_path: Path) -> None:
    feed = _write_jsonl(tmp_path / "big.jsonl", [_ok(f"id{i}") for i in range(5000)])
    reader = read_feed(feed)
    assert next(reader)[0] == 1  # a generator: the first line comes before the rest is read
    assert sum(1 for _ in reader) == 4999


def test_csv_rows_that_are_not_utf8_are_errors_and_the_rest_is_read(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    rows = [f"r{i},shopb,pics/{i}.jpg" for i in range(300)]  # past csv's 8 KB read-ahead
    body = ("\ufefflisting_id,platform,image\n" + "\n".join(rows) + "\n").encode("utf-8")
    bad_at = body.index(b"r150,")
    feed.write_bytes(body[:bad_at] + b"r150,shop\xffb,pics/150.jpg\n" + body[body.index(b"\n", bad_at) + 1 :])
    items = dict(read_feed(feed))
    assert len(items) == 300
    errors = {n: i for n, i in items.items() if isinstance(i, FeedError)}
    assert list(errors) == [152] and "not UTF-8" in errors[152].message  # header is line 1
    assert (errors[152].listing_id, errors[152].platform) == ("r150", None)  # the readable cell is kept
    assert items[2].listing_id == "r0" and items[301].listing_id == "r299"  # the BOM left the header intact


def test_deep_json_is_refused_before_the_parser_recurses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsed until RecursionError, ``[[[...`` left the thread without stack while the lists it built
    set off the cyclic GC: every finalizer in the process (distributed's weakref.finalize, __del__)
    then ran there and failed, "Exception ignored" (a flaky Dask scan test). Brackets in strings
    do not count."""
    from rights import json_input

    seen: list[int] = []
    parse = json.loads
    monkeypatch.setattr(
        json_input.json, "loads", lambda text, **kw: seen.append(len(text)) or parse(text, **kw)
    )
    for deep in ("[" * 100_000 + "]" * 100_000, ('{"a":' * 65 + "1" + "}" * 65).encode("utf-16")):
        with pytest.raises(json_input.TooDeep, match="nested more than 64"):
            json_input.loads(deep)
    assert not seen
    assert json_input.loads(json.dumps({"s": "[{" * 500, "t": "\\", "u": [[[1]]]})) == {
        "s": "[{" * 500,
        "t": "\\",
        "u": [[[1]]],
    }
    assert json_input.loads("[" * 64 + "]" * 64) is not None and seen


def test_jsonl_lines_that_are_not_plain_json_are_errors(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    lines = [
        _ok("a"),
        "[" * 100_000 + "]" * 100_000,  # Python's parser would raise RecursionError
        _ok("b", tags=_nested(80)),  # parseable, but deeper than any real listing
        _ok("c", image="pics/a\u0000.jpg"),
        _ok("d"),
        '{"listing_id": "e\\ud800", "platform": "shopb", "image": "pics/e.jpg"}',  # not text: once a crash
        '{"listing_id": "f", "platform": "shopb", "image": "pics/f.jpg", "x": NaN}',  # Python's, not JSON
        '{"listing_id": "g", "platform": "shopb", "image": "pics/g.jpg", "x": 1e999}',
        # Which image is meant? Readers disagree (the last one was taken, silently).
        '{"listing_id": "h", "platform": "shopb", "image": "pics/h.jpg", "image": "pics/other.jpg"}',
    ]
    feed.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode("utf-8"))
    items = dict(read_feed(feed))
    assert isinstance(items[1], Listing) and items[1].listing_id == "a"
    assert isinstance(items[2], FeedError) and "nested more than" in items[2].message
    assert isinstance(items[3], FeedError) and "nested more than" in items[3].message
    assert isinstance(items[4], FeedError) and "NUL" in items[4].message and items[4].listing_id == "c"
    assert isinstance(items[5], Listing)
    assert isinstance(items[6], FeedError) and "lone surrogate" in items[6].message
    assert isinstance(items[7], FeedError) and "NaN is not a JSON value" in items[7].message
    assert isinstance(items[8], FeedError) and "too large" in items[8].message
    assert isinstance(items[9], FeedError) and "names the key 'image' twice" in items[9].message


def test_error_items_keep_the_line_for_pass_through(tmp_path: Path) -> None:
    lines = [_ok("a", image="../x.jpg", colour="red"), _ok("b"), _ok("b", colour="blue")]
    (_, bad), _, (_, dup) = list(read_feed(_write_jsonl(tmp_path / "feed.jsonl", lines)))
    assert isinstance(bad, FeedError) and bad.raw["colour"] == "red"
    assert isinstance(dup, FeedError) and "duplicate" in dup.message and dup.raw["colour"] == "blue"


def _nested(depth: int) -> list:
    value: list = ["x"]
    for _ in range(depth - 1):
        value = [value]
    return value


def test_csv_header_without_the_required_columns_says_so(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("c1,shopb,pics/1.jpg\n", encoding="utf-8")  # no header: the row was taken for one
    ((line_no, error),) = list(read_feed(feed))
    assert line_no == 1 and isinstance(error, FeedError)
    assert "no 'listing_id', 'platform', 'image' column" in error.message


def test_csv_header_repeating_a_column_makes_every_row_an_error(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("listing_id,platform,image,image\nc1,shopb,a.jpg,b.jpg\n", encoding="utf-8")
    (line1, header_error), (line2, row_error) = list(read_feed(feed))
    assert (line1, line2) == (1, 2)
    assert isinstance(header_error, FeedError) and "repeats 'image'" in header_error.message
    assert isinstance(row_error, FeedError) and "ambiguous" in row_error.message


def test_a_symlinked_feed_resolves_paths_against_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "work").mkdir()
    _write_jsonl(tmp_path / "real" / "feed.jsonl", [_ok("a", image="a.jpg")])
    (tmp_path / "work" / "feed.jsonl").symlink_to(Path("..") / "real" / "feed.jsonl")
    ((_, listing),) = list(read_feed(tmp_path / "work" / "feed.jsonl"))
    assert isinstance(listing, Listing) and listing.image == str((tmp_path / "work" / "a.jpg").resolve())


def test_a_line_over_the_cap_is_an_error_and_the_next_is_read(tmp_path: Path) -> None:
    from workers.feeds import MAX_LINE_BYTES

    huge = _ok("big", title="x" * (MAX_LINE_BYTES + 10))
    feed = _write_jsonl(tmp_path / "feed.jsonl", [_ok("a"), huge, _ok("b")])
    items = dict(read_feed(feed))
    assert isinstance(items[1], Listing) and isinstance(items[3], Listing) and items[3].listing_id == "b"
    assert isinstance(items[2], FeedError) and f"longer than {MAX_LINE_BYTES} bytes" in items[2].message


@pytest.mark.parametrize(("rows", "closed_at"), [(20, None), (20, 9), (5000, None)])
def test_a_quote_never_closed_costs_its_own_row_only(
    tmp_path: Path, rows: int, closed_at: int | None
) -> None:
    """csv took every line up to the next quote (or its 128 KiB cell limit) into the bad row: 17 of 20
    listings, or 2,585 of 5,000, had no finding at all (an audit)."""
    titles = {3: '"Vintage 12in print'} | ({closed_at: '"Sunset" poster'} if closed_at else {})
    lines = ["listing_id,platform,image,title"]
    lines += [f"q{i},shop,pics/{i}.jpg,{titles.get(i, f'print {i}')}" for i in range(1, rows + 1)]
    feed = tmp_path / "feed.csv"
    feed.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    items = list(read_feed(feed))
    assert [n for n, _ in items] == list(range(2, rows + 2))  # one item per row, in order
    bad = dict(items)[4]
    assert isinstance(bad, FeedError) and "never closed" in bad.message and bad.listing_id == "q3"
    listings = [item for _, item in items if isinstance(item, Listing)]
    assert [x.listing_id for x in listings] == [f"q{i}" for i in range(1, rows + 1) if i != 3]
    if closed_at:
        assert listings[closed_at - 2].title == "Sunset poster"  # csv's reading of it, as before


def test_a_title_over_several_lines_is_still_one_listing(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(
        'listing_id,platform,image,title\nm1,shop,a.jpg,"Size: 12in, red, framed\nq2,other,b.jpg,x"\n',
        encoding="utf-8",
    )
    [(line, item)] = list(read_feed(feed))
    assert (
        line == 2 and isinstance(item, Listing) and item.title == "Size: 12in, red, framed\nq2,other,b.jpg,x"
    )


def test_a_raw_control_character_is_named_once(tmp_path: Path) -> None:
    feed = _write_jsonl(
        tmp_path / "feed.jsonl", ['{"listing_id": "a\tb", "platform": "p", "image": "x.jpg"}']
    )
    [(_, item)] = list(read_feed(feed))
    assert isinstance(item, FeedError)
    assert item.message == "line 1: invalid JSON (Invalid control character at column 18)"  # "at at" before


def test_a_compressed_feed_is_refused_in_words(tmp_path: Path) -> None:
    import gzip

    from rights.errors import BadInput

    feed = tmp_path / "feed.jsonl.gz"
    feed.write_bytes(gzip.compress((_ok("a") + "\n").encode()))
    with pytest.raises(BadInput, match=r"is gzip-compressed \(gunzip it first\)"):
        list(read_feed(feed))


def test_a_key_given_twice_still_names_the_listing(tmp_path: Path) -> None:
    """The error finding had listing_id and platform null though only the image was repeated."""
    feed = _write_jsonl(
        tmp_path / "feed.jsonl",
        [
            '{"listing_id": "j4", "platform": "printhub", "image": "a.jpg", "image": "b.jpg",'
            ' "x": {"platform": 1}}',
            '{"listing_id": "j5", "platform": "printhub", "platform": "other", "image": "a.jpg"}',
        ],
    )
    [(_, first), (_, second)] = list(read_feed(feed))
    assert isinstance(first, FeedError) and "names the key 'image' twice" in first.message
    assert (first.listing_id, first.platform) == ("j4", "printhub")
    assert isinstance(second, FeedError) and (second.listing_id, second.platform) == ("j5", None)


def test_a_price_written_as_a_number_is_passed_through(tmp_path: Path) -> None:
    """Marketplace exports write prices as numbers: each such listing was an error, never searched."""
    feed = _write_jsonl(
        tmp_path / "feed.jsonl", [_ok("a", price=12.5), _ok("b", price=3), _ok("c", price=True)]
    )
    [(_, a), (_, b), (_, c)] = list(read_feed(feed))
    assert isinstance(a, Listing) and a.raw["price"] == 12.5
    assert isinstance(b, Listing) and b.raw["price"] == 3
    assert isinstance(c, FeedError) and "'price' must be a string" in c.message
