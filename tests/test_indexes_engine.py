"""The copy-search engine on generated art and committed openclipart samples.

One engine holds seven works (two opaque generated artworks, one transparent, four CC0 clip-art
PNGs); every pirate transform is checked against all of them. Tests that change an engine build
their own from the module's reference fingerprints.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from indexes import Engine, Fingerprint, Match, file_lock, fingerprint, global_hashes, scoring
from indexes import binary_index as binary_index_module
from indexes import engine as engine_module
from indexes.index_copy import restore_index, snapshot_index, snapshot_size
from indexes.local_features import LocalFeatures
from tests import imagegen

# key -> the registered artwork (RGB or RGBA)
WORKS: dict[int, Image.Image] = {
    1: imagegen.artwork(101),
    2: imagegen.artwork(102, (420, 420)),
    3: imagegen.transparent_artwork(201),
    **{11 + i: imagegen.sample_image(name) for i, name in enumerate(imagegen.SAMPLE_NAMES)},
}
REGISTERED: dict[int, bytes] = {
    key: (imagegen.sample(imagegen.SAMPLE_NAMES[key - 11]) if key >= 11 else imagegen.encode(img))
    for key, img in WORKS.items()
}
TRANSPARENT = [key for key, img in WORKS.items() if img.mode == "RGBA"]


def flat(key: int) -> Image.Image:
    """The work as most copies show it: flattened on white."""
    img = WORKS[key]
    return imagegen.on_background(img, (255, 255, 255)) if img.mode == "RGBA" else img


def query(img: Image.Image, fmt: str = "PNG") -> Fingerprint:
    return fingerprint(imagegen.encode(img, fmt))


def describe(matches: list[Match]) -> str:
    return ", ".join(f"{m.key}:{m.score}/{m.verdict}/{m.kind}" for m in matches) or "nothing"


def assert_found(matches: list[Match], key: int) -> Match:
    assert matches, "no result"
    top = matches[0]
    assert top.key == key and top.verdict == "match", describe(matches)
    others = [m for m in matches[1:] if m.verdict == "match"]
    assert not others, f"unrelated works also matched: {describe(others)}"
    return top


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


@pytest.fixture(scope="module")
def refs() -> dict[int, Fingerprint]:
    return {key: fingerprint(data, role="reference") for key, data in REGISTERED.items()}


@pytest.fixture(scope="module")
def engine(refs: dict[int, Fingerprint]) -> Engine:
    eng = Engine()
    for key, fp in refs.items():
        eng.add(key, fp)
    return eng


def test_registered_works_are_informative(refs: dict[int, Fingerprint]) -> None:
    for key, fp in refs.items():
        assert not fp.low_information, (key, fp.low_information_reason)


# ---- transform families --------------------------------------------------------------------

TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg-q30": lambda img: imagegen.jpeg(img, 30),
    "crop-half-centre": lambda img: imagegen.crop_fraction(img, 0.5, "centre"),
    "crop-half-top-left": lambda img: imagegen.crop_fraction(img, 0.5, "top-left"),
    "crop-half-bottom-right": lambda img: imagegen.crop_fraction(img, 0.5, "bottom-right"),
    "mirror": imagegen.mirror,
    "rotate-90": lambda img: imagegen.rotate(img, 90),
    "rotate-10": lambda img: imagegen.rotate(img, 10),
    "caption-bar": imagegen.caption_bar,
    "frame": imagegen.frame,
}


@pytest.mark.parametrize("key", list(WORKS))
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_transform_is_found(engine: Engine, transform: str, key: int) -> None:
    copy = TRANSFORMS[transform](flat(key))
    fp = query(copy)
    top = assert_found(engine.search(fp), key)
    assert top.kind in ("near", "partial")
    assert top.score >= 0.8
    if transform.startswith("crop"):
        assert top.kind == "partial"
    assert top.region is not None
    x, y, w, h = top.region
    assert x >= 0 and y >= 0 and x + w <= copy.width + 1 and y + h <= copy.height + 1


@pytest.mark.parametrize("key", list(WORKS))
def test_listing_page_screenshot_is_found_with_region(engine: Engine, key: int) -> None:
    page, box = imagegen.listing_page(flat(key), seed=key)
    top = assert_found(engine.search(query(page, "JPEG")), key)
    assert top.kind == "partial"
    assert top.region is not None
    assert iou(top.region, box) >= 0.5, (top.region, box)


# Half its own size on the page (generated art: 240 px wide) rather than half the page width:
# about 0.3x the 640 px reference once the 1280 px page is read at 1024 px, beyond the ORB
# pyramids' overlap. Four of the seven were strict xfails until the page's items were searched
# as pictures of their own (``indexes.page_items``).
@pytest.mark.parametrize("key", list(WORKS))
def test_listing_page_with_half_size_artwork(engine: Engine, key: int) -> None:
    art = flat(key)
    page, box = imagegen.listing_page(art, seed=key, art_side=max(art.size) // 2)
    top = assert_found(engine.search(query(page, "JPEG")), key)
    assert top.kind == "partial"
    assert top.region is not None and iou(top.region, box) >= 0.5, (top.region, box)


def test_sheet_of_several_works_finds_each_of_them(refs: dict[int, Fingerprint]) -> None:
    """A listing showing four registered works side by side, among 40 registered ones: early
    stopping of verification (chance candidates) must not cut off any of the real ones."""
    eng = Engine()
    for key, fp in refs.items():
        eng.add(key, fp)
    for seed in range(40):
        eng.add(100 + seed, fingerprint(imagegen.encode(imagegen.artwork(500 + seed)), role="reference"))
    shown = [1, 2, 11, 12]
    sheet = Image.new("RGB", (1000, 1000), (250, 250, 250))
    for i, key in enumerate(shown):
        tile = flat(key).copy()
        tile.thumbnail((460, 460))
        sheet.paste(tile, (20 + 500 * (i % 2), 20 + 500 * (i // 2)))
    found = {m.key for m in eng.search(query(sheet, "JPEG")) if m.verdict == "match"}
    assert found == set(shown), found


def _strip(panels: list[Image.Image], width: int) -> Image.Image:
    """Panels stacked top to bottom, each scaled to ``width``, as a comic strip or a scrolled page."""
    scaled = [p.resize((width, round(p.height * width / p.width))) for p in panels]
    strip = Image.new("RGB", (width, sum(p.height + 10 for p in scaled)), (255, 255, 255))
    y = 0
    for p in scaled:
        strip.paste(p, (0, y))
        y += p.height + 10
    return strip


def test_a_long_comic_strip_registers_and_its_copies_are_found() -> None:
    """An 800 x 20,000 strip was 26 px wide at 640, inside ORB's border: no keypoints, refused as
    "bands of flat colour" (an audit). Its long side now grows instead of its short side shrinking."""
    strip = _strip([imagegen.artwork(700 + i) for i in range(32)], 800)
    assert strip.height > 19_000
    ref = fingerprint(imagegen.encode(strip), role="reference")
    assert ref.low_information_reason is None and len(ref.local.points) > 100
    eng = Engine()
    eng.add(1, ref)
    copy = imagegen.jpeg(strip.resize((400, strip.height // 2)), 80)
    assert_found(eng.search(query(copy, "JPEG")), 1)


def test_a_work_inside_a_long_strip_of_other_art_is_found(refs: dict[int, Fingerprint]) -> None:
    """A whole, unedited work in an 800 x 6,000 strip of other art was 136 px wide at 1024 and
    `clear` (an audit); the query's long side grows to keep 384 px across."""
    eng = Engine()
    eng.add(1, refs[1])
    for seed in range(20):
        eng.add(100 + seed, fingerprint(imagegen.encode(imagegen.artwork(900 + seed)), role="reference"))
    panels = [imagegen.artwork(800 + i) for i in range(9)]
    panels.insert(4, flat(1))
    strip = _strip(panels, 800)
    assert strip.height / strip.width > 7
    top = assert_found(eng.search(query(strip, "JPEG")), 1)
    assert top.region is not None


def test_a_query_searched_in_two_halves_finds_the_neighbours_of_one_search(
    engine: Engine, probes: dict[str, Fingerprint]
) -> None:
    """A search first tries every other descriptor and, when that reaches no `match`, reuses
    those neighbours for the full set: the halves, put back in order, are one search's."""
    for fp in probes.values():
        d = fp.local.descriptors
        whole = engine._neighbours(d)
        first, rest = engine._neighbours(d[::2]), engine._neighbours(d[1::2])
        for n in range(2):
            assert np.array_equal(engine_module._interleave(first[n], rest[n]), whole[n])
        assert np.array_equal(fp.local.every_other().descriptors, d[::2])


# ---- transparency --------------------------------------------------------------------------

_RANDOM_BACKGROUND = random.Random(4242)
BACKGROUNDS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "random": (
        _RANDOM_BACKGROUND.randrange(256),
        _RANDOM_BACKGROUND.randrange(256),
        _RANDOM_BACKGROUND.randrange(256),
    ),
}


@pytest.mark.parametrize("key", TRANSPARENT)
@pytest.mark.parametrize("background", list(BACKGROUNDS))
def test_transparent_work_flattened_on_any_background_matches(
    engine: Engine, background: str, key: int
) -> None:
    copy = imagegen.on_background(WORKS[key], BACKGROUNDS[background])
    assert_found(engine.search(query(copy, "JPEG")), key)


# ---- dihedral ------------------------------------------------------------------------------

DIHEDRAL = {
    "mirror": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip": Image.Transpose.FLIP_TOP_BOTTOM,
    "rotate-90": Image.Transpose.ROTATE_90,
    "rotate-180": Image.Transpose.ROTATE_180,
    "rotate-270": Image.Transpose.ROTATE_270,
    "transpose": Image.Transpose.TRANSPOSE,
}


@pytest.mark.parametrize("key", [1, 3, 11, 14])
@pytest.mark.parametrize("op", list(DIHEDRAL))
def test_dihedral_variant_matches(engine: Engine, op: str, key: int) -> None:
    copy = flat(key).transpose(DIHEDRAL[op])
    assert_found(engine.search(query(copy)), key)


# ---- exact, distractors --------------------------------------------------------------------


@pytest.mark.parametrize("key", list(WORKS))
def test_exact_bytes_are_exact(engine: Engine, refs: dict[int, Fingerprint], key: int) -> None:
    fp = fingerprint(REGISTERED[key])
    matches = engine.search(fp)
    top = assert_found(matches, key)
    assert top.kind == "exact"
    assert top.score == 1.0
    assert top.region == (0, 0, *refs[key].size)


DISTRACTORS = {
    **{f"artwork-{seed}": imagegen.artwork(seed) for seed in (901, 902, 903)},
    "square-artwork-904": imagegen.artwork(904, (420, 420)),
    "transparent-951": imagegen.on_background(imagegen.transparent_artwork(951), (255, 255, 255)),
    "listing-page-905": imagegen.listing_page(imagegen.artwork(905), seed=905)[0],
}


@pytest.mark.parametrize("name", list(DISTRACTORS))
def test_unrelated_images_do_not_match(engine: Engine, name: str) -> None:
    matches = engine.search(query(DISTRACTORS[name], "JPEG"))
    assert all(m.verdict != "match" for m in matches), describe(matches)


# ---- lifecycle: persistence, remove, rebuild, replace --------------------------------------


@pytest.fixture(scope="module")
def probes() -> dict[str, Fingerprint]:
    """A few queries whose results must survive save/load and rebuild unchanged."""
    return {
        "jpeg-1": query(imagegen.jpeg(flat(1), 40)),
        "crop-12": query(imagegen.crop_fraction(flat(12), 0.5, "top-left")),
        "page-2": query(imagegen.listing_page(flat(2), seed=2)[0], "JPEG"),
        "mirror-11": query(imagegen.mirror(flat(11))),
        "black-13": query(imagegen.on_background(WORKS[13], (0, 0, 0))),
        "exact-14": fingerprint(REGISTERED[14]),
        "distractor": query(DISTRACTORS["artwork-901"]),
    }


PROBE_KEY = {"jpeg-1": 1, "crop-12": 12, "page-2": 2, "mirror-11": 11, "black-13": 13, "exact-14": 14}


def _results(engine: Engine, probes: dict[str, Fingerprint]) -> dict[str, list[Match]]:
    return {name: engine.search(fp) for name, fp in probes.items()}


def test_probes_find_their_works(engine: Engine, probes: dict[str, Fingerprint]) -> None:
    for name, key in PROBE_KEY.items():
        assert_found(engine.search(probes[name]), key)


@pytest.mark.parametrize("flat_limit", [binary_index_module.FLAT_LIMIT, 1000], ids=["flat", "ivf"])
def test_save_and_load_give_the_same_results(
    refs: dict[int, Fingerprint],
    probes: dict[str, Fingerprint],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flat_limit: int,
) -> None:
    monkeypatch.setattr(binary_index_module, "FLAT_LIMIT", flat_limit)
    monkeypatch.setattr(engine_module, "LOCAL_FLAT_LIMIT", flat_limit)
    first = Engine(tmp_path / "index")
    for key, fp in refs.items():
        first.add(key, fp)
    before = _results(first, probes)
    first.save()
    first.save()  # a second generation replaces the first
    files = sorted(p.name for p in (tmp_path / "index").iterdir() if p.name != file_lock.LOCK_NAME)
    generations = {name.split(".")[1] for name in files if name != "manifest.json"}
    parts = {name.split(".")[0] for name in files if name != "manifest.json"}
    assert "manifest.json" in files and len(generations) == 1, files
    assert parts == {"pdq", "local", "works", "descriptors", "views", "lightness"}

    loaded = Engine(tmp_path / "index")

    assert loaded.keys() == set(refs) and len(loaded) == len(refs)
    assert _results(loaded, probes) == before
    # Works added after a load are held apart from the loaded lists (``indexes.binary_index``),
    # saved to a delta file, and found after the next load.
    loaded.remove(12)
    loaded.add(112, refs[12])
    loaded.save()
    other = ("manifest.json", file_lock.LOCK_NAME)
    parts = {p.name.split(".")[0] for p in (tmp_path / "index").iterdir() if p.name not in other}
    delta = {"local-delta"} if flat_limit == 1000 else set()
    assert parts == {"pdq", "local", "works", "descriptors", "views", "lightness"} | delta
    again = Engine(tmp_path / "index")
    assert _results(again, probes) == _results(loaded, probes)
    assert_found(again.search(probes["crop-12"]), 112)
    for name, key in PROBE_KEY.items():
        assert_found(before[name], key)


def test_an_index_sent_as_bytes_loads_elsewhere_with_the_same_results(
    refs: dict[int, Fingerprint], probes: dict[str, Fingerprint], tmp_path: Path
) -> None:
    first = Engine(tmp_path / "index")
    for key, fp in refs.items():
        first.add(key, fp)
    first.save()
    first.remove(12)
    first.add(112, refs[12])  # a delta file too
    first.save()
    assert snapshot_index(tmp_path / "none") == {} and snapshot_size(tmp_path / "none") == 0
    assert not (tmp_path / "none").exists()
    files = snapshot_index(tmp_path / "index")
    assert "manifest.json" in files and file_lock.LOCK_NAME not in files
    assert snapshot_size(tmp_path / "index") == sum(len(b) for b in files.values())

    restore_index(files, tmp_path / "elsewhere" / "copy")
    copy = Engine(tmp_path / "elsewhere" / "copy")
    assert copy.keys() == first.keys()
    assert _results(copy, probes) == _results(first, probes)
    # A copy already made (by another worker process) is kept; no staging folder is left behind.
    restore_index({"manifest.json": b"{}"}, tmp_path / "elsewhere" / "copy")
    assert Engine(tmp_path / "elsewhere" / "copy").keys() == first.keys()
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["copy"]
    with pytest.raises(ValueError, match="plain file name"):
        restore_index({"../manifest.json": b"{}"}, tmp_path / "elsewhere" / "evil")
    assert not (tmp_path / "elsewhere" / "evil").exists() and not (tmp_path / "manifest.json").exists()


def test_two_engines_saving_and_loading_one_folder_never_lose_files(
    refs: dict[int, Fingerprint], tmp_path: Path
) -> None:
    """As two processes on one data directory: each save deletes the generations it does not own,
    which, without the folder's lock, included the other's half-written files."""
    folder = tmp_path / "index"
    one, two = Engine(folder), Engine(folder)
    for key, fp in refs.items():
        one.add(key, fp)
        two.add(key + 1000, fp)
    errors: list[Exception] = []

    def repeat(action: Callable[[], object]) -> None:
        try:
            for _ in range(12):
                action()
        except Exception as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=repeat, args=(action,))
        for action in (one.save, two.save, lambda: Engine(folder))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Engine(folder).keys() in (one.keys(), two.keys())  # one whole generation, the last saved


def test_remove_stops_matching_and_survives_reload(
    refs: dict[int, Fingerprint], probes: dict[str, Fingerprint], tmp_path: Path
) -> None:
    eng = Engine(tmp_path)
    for key, fp in refs.items():
        eng.add(key, fp)

    assert eng.remove(1) is True
    assert eng.remove(1) is False
    assert eng.remove(14) is True
    assert 1 not in eng and 14 not in eng and len(eng) == len(refs) - 2

    def check(e: Engine) -> None:
        for name in ("jpeg-1", "exact-14"):
            assert all(m.key not in (1, 14) for m in e.search(probes[name])), name
        assert_found(e.search(probes["crop-12"]), 12)  # the others still work

    check(eng)
    eng.save()
    reloaded = Engine(tmp_path)
    assert reloaded.keys() == set(refs) - {1, 14}
    check(reloaded)


def test_rebuild_equals_incremental_adds(
    engine: Engine, refs: dict[int, Fingerprint], probes: dict[str, Fingerprint]
) -> None:
    rebuilt = Engine()
    rebuilt.add(99, refs[1])  # replaced wholesale by rebuild
    rebuilt.rebuild(refs.items())
    assert rebuilt.keys() == engine.keys()
    assert _results(rebuilt, probes) == _results(engine, probes)
    # And rebuilding with fewer works forgets the rest.
    rebuilt.rebuild((key, fp) for key, fp in refs.items() if key != 12)
    assert all(m.key != 12 for m in rebuilt.search(probes["crop-12"]))


def test_adding_a_key_twice_replaces_the_work(
    refs: dict[int, Fingerprint], probes: dict[str, Fingerprint]
) -> None:
    eng = Engine()
    eng.add(5, refs[1])
    eng.add(6, refs[11])
    eng.add(5, refs[2])
    assert len(eng) == 2 and eng.keys() == {5, 6}
    assert all(m.key != 5 for m in eng.search(probes["jpeg-1"])), "old work under key 5 still found"
    top = assert_found(eng.search(probes["page-2"]), 5)
    assert top.kind == "partial"
    # Exact-bytes lookup follows the replacement too.
    assert all(m.kind != "exact" for m in eng.search(fingerprint(REGISTERED[1])))
    assert assert_found(eng.search(fingerprint(REGISTERED[2])), 5).kind == "exact"


def test_same_fingerprint_under_two_keys_reports_both(refs: dict[int, Fingerprint]) -> None:
    eng = Engine()
    eng.add(7, refs[12])
    eng.add(8, refs[12])
    matches = eng.search(fingerprint(REGISTERED[12]))
    assert sorted(m.key for m in matches if m.kind == "exact") == [7, 8]
    eng.remove(7)
    assert [m.key for m in eng.search(fingerprint(REGISTERED[12])) if m.kind == "exact"] == [8]
    eng.add(9, refs[12])
    eng.add(10, refs[12])
    eng.remove(9)
    assert sorted(m.key for m in eng.search(fingerprint(REGISTERED[12])) if m.kind == "exact") == [8, 10]
    eng.remove(8)
    eng.remove(10)
    assert not [m for m in eng.search(fingerprint(REGISTERED[12])) if m.kind == "exact"]


@pytest.mark.parametrize("key", [1, 2, 11])
@pytest.mark.parametrize("upload", ["same bytes", "png re-saved", "jpeg q92"])
def test_a_second_registration_of_the_same_picture_hides_no_copies(
    refs: dict[int, Fingerprint], tmp_path: Path, key: int, upload: str
) -> None:
    """(Nearly) identical descriptors under two keys made the ratio test call every feature generic:
    crops and rotations of the original then matched nothing, so re-uploading a file hid its copies."""
    eng = Engine(tmp_path / "index")
    for k, fp in refs.items():
        eng.add(k, fp)
    again = {
        "same bytes": REGISTERED[key],
        "png re-saved": imagegen.encode(flat(key), "PNG", compress_level=1),
        "jpeg q92": imagegen.encode(flat(key).convert("RGB"), "JPEG", quality=92),
    }[upload]
    eng.add(900, fingerprint(again, role="reference"))  # another creator's contested upload
    copies = [imagegen.crop_fraction(flat(key), 0.5, "top-left"), imagegen.rotate(flat(key), 10)]
    for copy in copies:
        found = {m.key for m in eng.search(query(copy)) if m.verdict == "match"}
        assert {key, 900} <= found, found
    eng.save()
    reloaded = Engine(tmp_path / "index")  # the twins are known again after a load
    assert {key, 900} <= {m.key for m in reloaded.search(query(copies[0])) if m.verdict == "match"}
    eng.remove(900)
    assert key in {m.key for m in eng.search(query(copies[0])) if m.verdict == "match"}


@pytest.mark.parametrize("key", [1, 11])
def test_a_picture_registered_three_times_hides_no_copies(
    refs: dict[int, Fingerprint], tmp_path: Path, key: int
) -> None:
    """With three registrations a descriptor's three nearest features were all the same picture's;
    only the first two were grouped as one, so the third counted as another work's as close, and
    every feature as generic: a crop then came back with a wrong work at `review` (found by an audit)."""
    eng = Engine(tmp_path / "index")
    for k, fp in refs.items():
        eng.add(k, fp)
    eng.add(900, refs[key])
    eng.add(901, refs[key])
    copy = imagegen.crop_fraction(flat(key), 0.5, "top-left")
    found = {m.key for m in eng.search(query(copy)) if m.verdict == "match"}
    assert found == {key, 900, 901}, found


def test_bad_keys_and_unsaved_engine(refs: dict[int, Fingerprint]) -> None:
    eng = Engine()
    for key in (-1, 1 << 52, True, 1.5, "7"):  # bools and floats were packed into FAISS ids
        with pytest.raises(ValueError):
            eng.add(key, refs[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        eng.save()
    assert eng.search(refs[1]) == []  # empty engine
    with pytest.raises(ValueError, match="limit"):
        eng.search(refs[1], limit=-1)
    with pytest.raises(ValueError, match="twice"):  # the first set of vectors would stay findable
        eng.rebuild([(1, refs[1]), (2, refs[2]), (1, refs[2])])
    eng.add(np.int64(3), refs[3])  # type: ignore[arg-type]
    keys = eng.keys()
    assert keys == {3} and all(type(k) is int for k in keys)


def test_remove_takes_keys_as_add_does(refs: dict[int, Fingerprint]) -> None:
    """An np.int32 key wrapped round when shifted into FAISS ids and removed another work's features;
    a float one dropped the work from the keys, then raised, its vectors left findable (an audit)."""
    eng = Engine()
    eng.add(5, refs[1])
    eng.add((1 << 22) + 5, refs[2])
    crop = query(imagegen.crop_fraction(WORKS[1], 0.5, "centre"), "JPEG")
    before = eng.search(crop)
    assert before and before[0].key == 5
    assert eng.remove(np.int32((1 << 22) + 5))  # type: ignore[arg-type]
    after = eng.search(crop)
    assert [(m.key, m.verdict) for m in after] == [(5, "match")]  # work 5 keeps its features
    for key in (5.0, True, "5"):
        with pytest.raises(ValueError):
            eng.remove(key)  # type: ignore[arg-type]
    assert eng.keys() == {5} and eng.search(crop) == after


def test_searches_from_any_thread_use_the_engines_faiss_threads(refs: dict[int, Fingerprint]) -> None:
    """OpenMP keeps its thread count per thread: set where the engine was made, a server's other
    threads searched with every core each (an audit)."""
    eng = Engine(threads=1)
    eng.add(1, refs[1])
    seen: list[int] = []

    def search() -> None:
        faiss.omp_set_num_threads(4)  # as a fresh thread may start
        eng.search(refs[1])
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    assert seen == [1]


def test_a_save_with_an_older_stamp_keeps_the_newer_index(
    refs: dict[int, Fingerprint], tmp_path: Path
) -> None:
    newer, older = Engine(tmp_path), Engine(tmp_path)
    newer.add(1, refs[1])
    newer.add(2, refs[2])
    assert newer.save(stamp=5)
    older.add(1, refs[1])
    assert not older.save(stamp=3)  # another process saved a newer index meanwhile
    assert Engine(tmp_path).keys() == {1, 2}
    assert older.save(stamp=5) and Engine(tmp_path).keys() == {1}  # equal stamps: the caller knows
    assert older.save()  # no stamp: saved as before


def test_save_leaves_other_files_in_its_folder(refs: dict[int, Fingerprint], tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    (folder / "sub").mkdir()  # once an IsADirectoryError after the manifest switch
    eng = Engine(folder)
    eng.add(1, refs[1])
    eng.save()
    eng.save()
    assert (folder / "notes.txt").read_text() == "precious" and (folder / "sub").is_dir()
    assert len(list(folder.glob("works.*.npz"))) == 1  # earlier generations still go


# ---- PDQ's dihedral hashes on their own ------------------------------------------------------

# The engine's docstring says whole-image PDQ over the dihedral variants catches mirrors and
# 90-degree turns at hash-lookup cost. pdqhash derives the 8 variants by flipping DCT signs, which
# is exact only for the transpose; for the others (ThreatExchange PR #1669 discusses why) the
# variant hash is 28-48 bits from the hash of the really transformed image, i.e. `review` at
# best. ORB still finds every one of these copies (test_dihedral_variant_matches).
_PDQ_ONLY_MISS = pytest.mark.xfail(
    strict=True, reason="pdqhash dihedral variant is 28-48 bits from the transformed image's PDQ"
)


@pytest.mark.parametrize(
    "op",
    [pytest.param(op, marks=_PDQ_ONLY_MISS) if op != "transpose" else op for op in [*DIHEDRAL, "transverse"]],
)
def test_pdq_dihedral_variants_alone_are_near_duplicates(op: str) -> None:
    transform = DIHEDRAL.get(op, Image.Transpose.TRANSVERSE)
    for seed in (101, 102):
        art = imagegen.artwork(seed, (256, 192))
        work = global_hashes.pdq_dihedral(np.asarray(art))[0][0]
        copy, _ = global_hashes.pdq_dihedral(np.asarray(art.transpose(transform)))
        distance = int(global_hashes.hamming(copy, work).min())
        assert distance <= 16, (seed, distance)


# ---- feature budget (memory at scale) -----------------------------------------------------------


def test_feature_budget_caps_what_is_indexed_and_is_kept_on_disk(
    refs: dict[int, Fingerprint], probes: dict[str, Fingerprint], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="features_per_work"):
        Engine(features_per_work=8)
    small = Engine(tmp_path / "index", features_per_work=64)
    small.rebuild(refs.items())
    full = Engine()
    full.rebuild(refs.items())
    assert len(small._local) <= 64 * len(refs) < len(full._local)
    small.add(99, refs[1])
    assert len(small._local) <= 64 * (len(refs) + 1)
    small.remove(99)
    small.save()

    reopened = Engine(tmp_path / "index")  # no budget given: the saved one
    assert reopened.features_per_work == reopened.stored_features_per_work == 64
    assert _results(reopened, probes) == _results(small, probes)
    assert Engine(tmp_path / "index", features_per_work=128).stored_features_per_work == 64
    # Even 64 features per work still find plain copies.
    assert_found(reopened.search(probes["jpeg-1"]), 1)


@pytest.mark.parametrize("part", ["pdq", "local", "works"])
def test_a_damaged_index_file_is_refused_not_searched(
    refs: dict[int, Fingerprint], tmp_path: Path, part: str
) -> None:
    """FAISS loads a file whose codes or ids were altered without complaint; the manifest's
    checksums make that a load error, which a registry answers with a rebuild."""
    eng = Engine(tmp_path)
    eng.rebuild(refs.items())
    eng.save()
    name = json.loads((tmp_path / "manifest.json").read_text())["files"][part]
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{name} does not match its checksum"):
        Engine(tmp_path)


@pytest.mark.parametrize("damage", ["a part renamed", "a checksum dropped", "the count changed"])
def test_a_damaged_manifest_is_refused(refs: dict[int, Fingerprint], tmp_path: Path, damage: str) -> None:
    """One flipped bit in the name "local_delta" loaded the index without the ORB features of every
    work added since the load before (an audit)."""
    eng = Engine(tmp_path)
    eng.rebuild(refs.items())
    eng.save()
    path = tmp_path / "manifest.json"
    manifest = json.loads(path.read_text())
    if damage == "a part renamed":  # an optional part, as the delta files are
        manifest["files"]["descrhptors"] = manifest["files"].pop("descriptors")
    elif damage == "a checksum dropped":
        manifest["crc32"].pop(manifest["files"]["descriptors"])
    else:
        manifest["works"] += 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest"):
        Engine(tmp_path)


def test_an_index_saved_with_float_keypoints_still_loads(
    refs: dict[int, Fingerprint], probes: dict[str, Fingerprint], tmp_path: Path
) -> None:
    """Format 3 kept keypoints as float32; format 4 keeps them in fixed point."""
    eng = Engine(tmp_path)
    eng.rebuild(refs.items())
    eng.save()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    works = tmp_path / manifest["files"]["works"]
    with np.load(works) as z:
        arrays = {name: z[name] for name in z.files}
    assert arrays["points"].dtype == np.uint16
    arrays["points"] = arrays["points"].astype(np.float32) / 32
    with open(works, "wb") as fh:
        np.savez(fh, **arrays)
    manifest["format"] = 3
    del manifest["features_per_work"], manifest["crc32"]  # format 3 kept neither
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    old = Engine(tmp_path)
    assert old.stored_features_per_work == engine_module.DEFAULT_FEATURES_PER_WORK
    assert _results(old, probes) == _results(eng, probes)


def test_concurrent_searches_agree_with_serial_ones_while_works_are_added(
    refs: dict[int, Fingerprint], probes: dict[str, Fingerprint]
) -> None:
    """Searches share the engine (a readers-writer lock); adds wait for them and vice versa."""
    eng = Engine()
    eng.rebuild(refs.items())
    serial = _results(eng, probes)
    errors: list[BaseException] = []
    seen: list[dict[str, list[Match]]] = []

    def searcher() -> None:
        try:
            for _ in range(3):
                seen.append(_results(eng, probes))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    def writer() -> None:
        try:
            for n, fp in enumerate(list(refs.values())[:5]):
                eng.add(1000 + n, fp)  # same pixels under new keys: found alongside the old ones
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(seen) == 9 and eng.keys() == set(refs) | {1000 + n for n in range(5)}
    first_five = set(list(refs)[:5])
    for results in [*seen, _results(eng, probes)]:
        for name, key in PROBE_KEY.items():
            if key not in first_five:  # untouched by the writer: exactly the serial answer
                assert results[name] == serial[name], name


def _pdq_drifted(fp: Fingerprint, bits: int) -> Fingerprint:
    """``fp`` as a copy whose only evidence is a whole-image PDQ ``bits`` away (no features, and a
    pHash that disagrees, so it cannot corroborate the drift)."""
    mask = np.packbits(np.arange(global_hashes.PDQ_BYTES * 8) < bits)
    none = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    return dataclasses.replace(
        fp,
        sha256="0" * 64,
        pdq=fp.pdq ^ mask,
        regions=fp.regions[:0],
        local=none,
        mirrored=none,
        phash=np.bitwise_not(fp.phash),
    )


def test_appearance_lifts_a_review_candidate_to_match_but_never_makes_one(
    refs: dict[int, Fingerprint], tmp_path: Path
) -> None:
    engine = Engine(tmp_path / "index")
    for key, fp in refs.items():
        engine.add(key, fp)
    blind = dataclasses.replace  # the same query without its appearance signature
    review = _pdq_drifted(refs[1], 26)  # a bare PDQ distance of 26 bits is review evidence
    without = [m for m in engine.search(blind(review, appearance=np.zeros(0, np.int8))) if m.key == 1]
    assert [m.verdict for m in without] == ["review"]
    found = assert_found(engine.search(review), 1)
    assert found.kind == "near" and found.region == (0, 0, *refs[1].size)
    # Too far for review on its own: the signature, identical as it is, adds nothing.
    assert not [m for m in engine.search(_pdq_drifted(refs[1], 40)) if m.key == 1]
    engine.save()
    assert Engine(tmp_path / "index").search(review) == engine.search(review)


def test_a_signature_of_another_size_is_ignored_not_fatal(
    refs: dict[int, Fingerprint], tmp_path: Path
) -> None:
    odd = dataclasses.replace(refs[1], appearance=np.ones(10, np.int8))
    engine = Engine(tmp_path / "index")
    engine.add(1, odd)
    engine.add(2, refs[2])
    engine.save()
    loaded = Engine(tmp_path / "index")
    assert_found(loaded.search(_pdq_drifted(refs[2], 26)), 2)  # 2's signature survived the save
    assert [m.verdict for m in loaded.search(_pdq_drifted(refs[1], 26)) if m.key == 1] == ["review"]


def test_placed_edges_lift_a_crop_with_few_keypoints_to_match(
    refs: dict[int, Fingerprint], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine()
    for key, fp in refs.items():
        engine.add(key, fp)
    # A committed clip art, whose flat colours give few corners.
    crop = query(imagegen.jpeg(imagegen.crop_fraction(flat(14), 0.45, "top-left"), 40))
    # Its first 120 keypoints only: a placement with too few inliers for `match` on their own.
    weak = dataclasses.replace(crop, local=crop.local.head(120), mirrored=crop.mirrored.head(0))
    found = assert_found(engine.search(weak), 14)
    assert found.kind == "partial"
    monkeypatch.setattr(scoring, "PLACED_EDGES_MATCH", 2.0)  # placed edges switched off
    monkeypatch.setattr(scoring, "LIGHTNESS_SURE_FIT", 2.0)  # and the last resort, which finds it too
    monkeypatch.setattr(scoring, "LIGHTNESS_CLEAR_FIT", 2.0)
    assert [m.verdict for m in engine.search(weak) if m.key == 14] == ["review"]


def test_a_drawing_inside_a_stronger_match_is_explained_away() -> None:
    small = imagegen.artwork(301, (300, 240))
    poster = imagegen.artwork(302, (720, 540)).copy()
    poster.paste(small, (300, 200))  # a later work that contains the first one whole
    engine = Engine()
    engine.add(1, fingerprint(imagegen.encode(small), role="reference"))
    copy = query(imagegen.jpeg(poster, 70))
    alone = assert_found(engine.search(copy), 1)  # the drawing is in the copy: a match alone
    assert alone.kind == "partial"
    engine.add(2, fingerprint(imagegen.encode(poster), role="reference"))
    matches = engine.search(copy)
    assert [(m.key, m.verdict) for m in matches] == [(2, "match"), (1, "review")], describe(matches)
    assert matches[1].region is not None and alone.region is not None
    assert iou(matches[1].region, alone.region) > 0.9
    assert_found(engine.search(query(imagegen.jpeg(small, 70))), 1)  # the drawing alone still matches


# ---- queries under the gate's size, weak candidates ----------------------------------------


def thumbnail(img: Image.Image, side: int = 28) -> Image.Image:
    scale = side / max(img.size)
    return img.resize(
        (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
    )


@pytest.mark.parametrize("key", [1, 2, 11, 13])
def test_a_thumbnail_under_the_gates_size_matches_by_its_whole_image_hash(engine: Engine, key: int) -> None:
    """A 28 px copy is too small for local features but is still the whole picture: its PDQ
    names the work. Registering it would still be refused (low information)."""
    fp = query(thumbnail(flat(key)))
    assert fp.low_information and fp.whole_image_only
    top = assert_found(engine.search(fp), key)
    assert top.kind == "near" and top.region == (0, 0, *fp.size)


@pytest.mark.parametrize(("key", "side", "blur"), [(2, 22, 0.0), (3, 30, 1.5), (13, 22, 1.0)])
def test_a_drifted_thumbnail_matches_within_pdqs_usual_distance(
    engine: Engine, key: int, side: int, blur: float
) -> None:
    """A JPEG thumbnail (blurred first) whose whole-image hash drifted 28-30 bits from the work:
    past the 20 bits a larger query needs, within the 31 a query with no other evidence gets."""
    img = flat(key)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur * max(img.size) / 100))
    fp = query(thumbnail(img, side), "JPEG")
    assert fp.whole_image_only
    top = assert_found(engine.search(fp), key)
    assert top.kind == "near" and scoring.near_score(28) < scoring.MATCH_THRESHOLD


@pytest.mark.parametrize("seed", [901, 902, 903])
def test_a_thumbnail_of_unrelated_art_matches_nothing(engine: Engine, seed: int) -> None:
    matches = engine.search(query(thumbnail(imagegen.artwork(seed))))
    assert all(m.verdict != "match" for m in matches), describe(matches)


@pytest.mark.parametrize("key", [1, 3, 12])
def test_a_negative_of_a_work_is_found(engine: Engine, key: int) -> None:
    """An inverted copy hashes to the complement of its work's PDQ; ORB's descriptors all flip.
    Found 4 times in 120 on a realistic-copy audit before the complement was searched."""
    negative = ImageOps.invert(flat(key).convert("RGB"))
    assert_found(engine.search(query(negative, "JPEG")), key)


def test_black_art_on_transparency_matches_itself_not_other_black_art() -> None:
    """Flattened on black, each is one flat colour, whose PDQ is all zeros: black text on a
    transparent background came back a 0.9999 `match` on every such registered work."""
    eng = Engine()
    for key in (1, 2):
        ref = fingerprint(imagegen.encode(imagegen.black_line_art(key)), role="reference")
        assert global_hashes.degenerate(ref.pdq[1, :1]).all()  # its view on black: all zeros
        eng.add(key, ref)
    for seed in (3, 4):
        other = eng.search(query(imagegen.black_line_art(seed)))
        assert not [m for m in other if m.verdict == "match"], describe(other)
    on_white = imagegen.on_background(imagegen.black_line_art(1), (255, 255, 255))
    assert_found(eng.search(query(on_white, "JPEG")), 1)
    assert_found(eng.search(query(imagegen.black_line_art(2))), 2)


def test_hashes_of_flat_images_and_regular_patterns_are_degenerate() -> None:
    """Such hashes are neither indexed nor searched: a checkerboard hashed equal to the gradient
    corner of an unrelated glossy icon (a 0.92 `match`)."""
    side = np.arange(256)
    checker = ((side[:, None] // 8 + side[None, :] // 8) % 2 * 255).astype(np.uint8)  # 8 px squares
    flat_kinds = {
        "black": np.zeros((256, 256, 3), np.uint8),  # other flat colours hash to noise, of quality 0
        "checkerboard": np.repeat(checker[:, :, None], 3, axis=2),
    }
    for name, pixels in flat_kinds.items():
        bits, _ = global_hashes.pdq_dihedral(pixels)
        assert global_hashes.degenerate(bits[:1]).all(), name  # as it is; the engine skips its turns too
    pictures = [np.asarray(WORKS[key].convert("RGB")) for key in (1, 2, 11, 12, 13, 14)]
    hashes = np.concatenate([global_hashes.pdq_dihedral(p)[0] for p in pictures])
    assert not global_hashes.degenerate(hashes).any()


def test_a_plain_thumbnail_is_not_trusted_even_as_a_whole(engine: Engine) -> None:
    fp = query(imagegen.plain_fill().resize((24, 24)))
    assert fp.low_information and not fp.whole_image_only
    assert engine.search(fp) == []


def test_weak_candidates_come_only_when_asked_and_change_nothing_shown(
    engine: Engine, probes: dict[str, Fingerprint]
) -> None:
    weak_seen = 0
    for name, fp in probes.items():
        shown = engine.search(fp)
        ranked = engine.search(fp, min_score=0.0)
        assert [m for m in ranked if m.verdict] == shown, name
        weak = [m for m in ranked if not m.verdict]
        assert all(0.0 < m.score < scoring.REVIEW_THRESHOLD for m in weak), describe(weak)
        assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
        weak_seen += len(weak)
    assert weak_seen > 0  # the probes' unrelated works do leave weak evidence


def test_weak_scores_stay_below_review_and_likeness_never_makes_a_candidate() -> None:
    assert scoring.weak_score(0, None, 0.99) == 0.0
    assert scoring.weak_score(0, 70, 0.99) == 0.0  # past the widest PDQ hint
    strongest = scoring.weak_score(500, 45, 1.0)
    assert 0.0 < strongest < scoring.REVIEW_THRESHOLD
    # Likeness ranks candidates with the same placement: the look-alike first.
    assert scoring.weak_score(8, None, 0.9) > scoring.weak_score(8, None, 0.1) > 0.0
    assert scoring.weak_score(0, 50, 0.0) > scoring.weak_score(0, 60, 0.0) > 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_a_min_score_outside_zero_to_one_is_refused(
    engine: Engine, probes: dict[str, Fingerprint], bad: float
) -> None:
    with pytest.raises(ValueError, match="min_score"):
        engine.search(probes["jpeg-1"], min_score=bad)
