"""The Fingerprint value object and the low-information gate."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from indexes import MATCH_THRESHOLD, Engine, Fingerprint, fingerprint, local_features, scoring
from indexes.fingerprinting import METHOD, REFERENCE_FEATURES
from tests import imagegen

ART = imagegen.encode(imagegen.artwork(21))
OTHER = imagegen.encode(imagegen.artwork(22))


@pytest.fixture(scope="module")
def fps() -> dict[str, Fingerprint]:
    return {
        "query": fingerprint(ART, role="query"),
        "reference": fingerprint(ART, role="reference"),
        "other": fingerprint(OTHER, role="query"),
        "transparent": fingerprint(imagegen.encode(imagegen.transparent_artwork(23)), role="reference"),
        "sample": fingerprint(imagegen.sample("lasagna"), role="reference"),
    }


@pytest.mark.parametrize("name", ["query", "reference", "other", "transparent", "sample"])
def test_bytes_round_trip(fps: dict[str, Fingerprint], name: str) -> None:
    fp = fps[name]
    back = Fingerprint.from_bytes(fp.to_bytes())
    assert back == fp
    assert back.to_bytes() == fp.to_bytes()
    assert back.digest() == fp.digest()
    assert hash(back) == hash(fp)
    assert back.size == fp.size and back.working_size == fp.working_size
    assert back.low_information_reason == fp.low_information_reason
    assert np.array_equal(back.local.descriptors, fp.local.descriptors)
    assert np.array_equal(back.local.points, fp.local.points)
    assert np.array_equal(back.pdq, fp.pdq) and np.array_equal(back.regions, fp.regions)


def test_digest_is_stable_and_content_based(fps: dict[str, Fingerprint]) -> None:
    again = fingerprint(ART, role="query")
    assert again is not fps["query"]
    assert again == fps["query"]
    assert again.digest() == fps["query"].digest()
    assert len(fps["query"].digest()) == 64
    assert int(fps["query"].digest(), 16) >= 0  # hex


def test_different_images_and_roles_differ(fps: dict[str, Fingerprint]) -> None:
    assert fps["other"] != fps["query"]
    assert fps["other"].digest() != fps["query"].digest()
    assert fps["other"].sha256 != fps["query"].sha256
    assert fps["reference"] != fps["query"]
    assert fps["reference"].sha256 == fps["query"].sha256  # same bytes, different role


def test_equality_with_other_types(fps: dict[str, Fingerprint]) -> None:
    fp = fps["query"]
    assert fp != None  # noqa: E711 - the point is that __eq__ copes with None
    assert fp != fp.to_bytes()
    assert fp in {fp: 1}


def test_fingerprint_is_frozen(fps: dict[str, Fingerprint]) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        fps["query"].sha256 = "x"  # type: ignore[misc]


def test_roles_shape_the_signals(fps: dict[str, Fingerprint]) -> None:
    ref, query = fps["reference"], fps["query"]
    assert max(ref.working_size) == 640
    assert len(ref.local) <= REFERENCE_FEATURES
    assert len(ref.mirrored) == 0
    assert len(ref.regions) > 0
    assert len(query.mirrored) > 0
    assert len(query.regions) == 0
    assert len(query.local) > len(ref.local)
    assert ref.size == query.size == (480, 360)
    assert ref.pdq.shape == (1, 8, 32)  # opaque, no frame: one view
    assert fps["transparent"].pdq.shape[0] >= 2  # extra on-black view for transparent art


def test_path_source_equals_bytes_source(tmp_path: Path) -> None:
    path = tmp_path / "art.png"
    path.write_bytes(OTHER)
    assert fingerprint(path) == fingerprint(str(path)) == fingerprint(OTHER)


@pytest.mark.parametrize("role", ["Query", "", "ref", None])
def test_bad_role_raises_value_error(role: object) -> None:
    with pytest.raises(ValueError, match="role"):
        fingerprint(ART, role=role)  # type: ignore[arg-type]


def test_from_bytes_rejects_garbage(fps: dict[str, Fingerprint]) -> None:
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(b"PNG\x00 not a fingerprint")
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(fps["query"].to_bytes() + b"\x00")
    # Cut short, or a header key damaged: these raised struct.error, KeyError or IndexError (an audit).
    data = fps["query"].to_bytes()
    for bad in (data[:6], data[: len(data) // 2], data.replace(b'"pdq_views"', b'"pdq_vieWs"', 1)):
        with pytest.raises(ValueError):
            Fingerprint.from_bytes(bad)


# ---- quality gate --------------------------------------------------------------------------

LOW = {
    "plain-fill": imagegen.encode(imagegen.plain_fill()),
    "soft-gradient": imagegen.encode(imagegen.soft_gradient()),
    "tiny-icon": imagegen.encode(imagegen.tiny_icon()),
}


@pytest.fixture(scope="module")
def low_fps() -> dict[str, tuple[Fingerprint, Fingerprint]]:
    return {name: (fingerprint(data, role="reference"), fingerprint(data)) for name, data in LOW.items()}


@pytest.mark.parametrize("name", list(LOW))
def test_plain_images_are_low_information(
    low_fps: dict[str, tuple[Fingerprint, Fingerprint]], name: str
) -> None:
    for fp in low_fps[name]:
        assert fp.low_information
        assert fp.low_information_reason
        assert fp.information < 0.8
    if name == "tiny-icon":
        assert "16x16" in (low_fps[name][1].low_information_reason or "")


def _tricolour(colours: tuple[tuple[int, int, int], ...], emblem: bool = False) -> bytes:
    """A flag of three vertical bands, with a star in the middle if ``emblem``."""
    img = Image.new("RGB", (900, 600))
    draw = ImageDraw.Draw(img)
    for i, colour in enumerate(colours):
        draw.rectangle((i * 300, 0, (i + 1) * 300, 600), fill=colour)
    if emblem:
        star = [
            (450, 150),
            (480, 260),
            (590, 260),
            (500, 320),
            (540, 430),
            (450, 360),
            (360, 430),
            (400, 320),
        ]
        draw.polygon([*star, (310, 260), (420, 260)], fill=(250, 220, 0))
    return imagegen.encode(img)


@pytest.mark.parametrize(
    "colours", [((0, 85, 164), (255, 255, 255), (239, 65, 53)), ((20, 20, 20), (200, 0, 0), (250, 200, 0))]
)
def test_bands_of_flat_colour_are_refused_at_registration(colours: tuple[tuple[int, int, int], ...]) -> None:
    """A tricolour has no corners for ORB and a PDQ that moved 122 bits between France's PNG and a
    JPEG of it: registered, no copy could ever be found, so it is refused with a reason instead."""
    plain = fingerprint(_tricolour(colours), role="reference")
    assert plain.low_information and "flags" in (plain.low_information_reason or "")
    assert not fingerprint(_tricolour(colours)).low_information  # a query keeps what it can find
    with_emblem = fingerprint(_tricolour(colours, emblem=True), role="reference")
    assert not with_emblem.low_information and len(with_emblem.local) >= 100


@pytest.mark.parametrize("size", [(5000, 3), (3, 5000), (2000, 1), (1, 1)])
def test_sliver_images_are_low_information_not_a_crash(size: tuple[int, int]) -> None:
    """A 5000 x 3 strip used to crash ORB (its pyramid shrank a side to 0 px): an untyped
    OpenCV error, i.e. a 500 from the API, instead of a clear refusal."""
    data = imagegen.encode(Image.new("RGB", size, (10, 200, 30)))
    for role in ("reference", "query"):
        fp = fingerprint(data, role=role)
        assert fp.low_information_reason and f"{size[0]}x{size[1]}" in fp.low_information_reason
        assert len(fp.local) == 0


def test_small_soft_detail_is_judged_on_its_own_pixels() -> None:
    """A 96 px low-contrast texture has edges on every other pixel; enlarged to the 256 px hash
    size first, its gradients fall under the gate's Sobel level and it was called blank."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (96, 96, 3)).astype(np.float32), (0, 0), 1.5)
    texture = (noise / noise.std() * 12 + 128).clip(0, 255).astype(np.uint8)
    for role in ("reference", "query"):
        fp = fingerprint(imagegen.encode(Image.fromarray(texture)), role=role)
        assert fp.edge_density > 0.1
        assert fp.low_information_reason is None


def faint_small_artwork(seed: int) -> Image.Image:
    """96 px and low contrast, like a tile of a retina scan: its corners are real but gentle."""
    small = imagegen.artwork(seed, (320, 320)).resize((96, 96), Image.Resampling.LANCZOS)
    return ImageEnhance.Contrast(small).enhance(0.1)


def test_an_enlarged_small_image_keeps_its_corners(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enlarged ~7x to the working size, a faint 96 px image's corners differ by under 8 grey levels
    across FAST's 3 px circle: the fixed threshold found almost none and the gate refused the work."""
    data = imagegen.encode(faint_small_artwork(1))
    fp = fingerprint(data, role="reference")
    assert not fp.low_information and len(fp.local) >= 200
    monkeypatch.setattr(local_features, "MIN_FAST_THRESHOLD", local_features.FAST_THRESHOLD)
    fixed = fingerprint(data, role="reference")
    assert len(fixed.local) < 24 and fixed.low_information


def _chosen_keypoints(gray: np.ndarray, budget: int) -> tuple[cv2.ORB, list[cv2.KeyPoint]]:
    """ORB's detector as ``extract`` builds it, and the keypoints ``extract`` keeps, in its order."""
    detector = local_features._detector(budget * local_features._DETECT_FACTOR)
    keypoints = detector.detect(gray, None)
    pts = np.array([k.pt for k in keypoints], np.float32)
    response = np.array([k.response for k in keypoints], np.float32)
    octave = np.array([k.octave for k in keypoints], np.int32)
    order = local_features._balanced_order(pts, response, octave, gray.shape)[:budget]
    return detector, [keypoints[i] for i in order]


def _level_by_level_order(
    pts: np.ndarray, response: np.ndarray, octave: np.ndarray, shape: tuple
) -> np.ndarray:
    """The order ``_balanced_order`` must give, computed the slow way: each level spread over the
    grid on its own (best of every cell first, ties by response then cell), then interleaved."""
    g = local_features._GRID
    cell = [
        min(int(x * g / shape[1]), g - 1) + g * min(int(y * g / shape[0]), g - 1) for x, y in pts.tolist()
    ]
    position = {}
    for level in sorted(set(octave.tolist())):
        members = [i for i in range(len(pts)) if octave[i] == level]
        by_cell: dict[int, list[int]] = {}
        for i in sorted(members, key=lambda i: (cell[i], -response[i], i)):
            by_cell.setdefault(cell[i], []).append(i)
        rank = {i: r for ids in by_cell.values() for r, i in enumerate(ids)}
        for p, i in enumerate(sorted(members, key=lambda i: (rank[i], -response[i], cell[i], i))):
            position[i] = p
    return np.array(sorted(range(len(pts)), key=lambda i: (position[i], octave[i])))


def test_keypoints_are_ordered_level_by_level_and_cell_by_cell() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 7, 400):
        pts = (rng.random((n, 2)) * [640, 480]).astype(np.float32)
        response = rng.integers(0, 5, n).astype(np.float32)  # many ties
        octave = rng.integers(0, 8, n).astype(np.int32)
        order = local_features._balanced_order(pts, response, octave, (480, 640))
        assert np.array_equal(order, _level_by_level_order(pts, response, octave, (480, 640)))


def test_one_orb_pass_gives_the_descriptors_a_second_compute_pass_would() -> None:
    """``extract`` describes every detection in one pyramid and keeps the chosen ones; ORB's own
    ``compute`` on the chosen keypoints (two pyramids) must give the same bits, in its order."""
    gray = cv2.cvtColor(np.asarray(imagegen.artwork(3, (800, 600))), cv2.COLOR_RGB2GRAY)
    local, mirrored = local_features.extract(gray, 300, mirror_budget=120)
    detector, chosen = _chosen_keypoints(gray, 300)
    kept, descriptors = detector.compute(gray, chosen)
    assert len(local) == len(kept) == 300 and len(mirrored) == 120
    assert np.array_equal(local.points, np.array([k.pt for k in kept], np.float32))
    assert np.array_equal(local.descriptors, descriptors)


def test_an_image_under_the_gates_size_has_no_local_features() -> None:
    """Enlarged 48x to the query size, a 16 px icon's corners would be interpolation artefacts
    (the lowered FAST threshold found hundreds): none are taken, and it is no information."""
    fp = fingerprint(imagegen.encode(imagegen.tiny_icon()))
    assert len(fp.local) == 0 and len(fp.mirrored) == 0
    assert fp.low_information and fp.information < 0.3
    assert fp.whole_image_only  # detailed enough for its whole-image hash (tests/test_indexes_engine.py)


def test_an_image_of_the_gates_size_keeps_its_corners_but_scores_less_information() -> None:
    img = imagegen.artwork(5, (320, 320)).resize((40, 40), Image.Resampling.LANCZOS)
    fp = fingerprint(imagegen.encode(img))
    assert not fp.low_information and not fp.whole_image_only and len(fp.local) > 24
    assert fp.information < 0.7


def test_rich_artwork_is_not_low_information(fps: dict[str, Fingerprint]) -> None:
    for name in ("query", "reference", "transparent", "sample"):
        assert not fps[name].low_information, name
        assert fps[name].low_information_reason is None
    assert fps["query"].information > 0.8


def test_low_information_reason_survives_round_trip(
    low_fps: dict[str, tuple[Fingerprint, Fingerprint]],
) -> None:
    fp = low_fps["plain-fill"][1]
    assert Fingerprint.from_bytes(fp.to_bytes()).low_information_reason == fp.low_information_reason


@pytest.mark.parametrize("name", list(LOW))
def test_low_information_query_never_matches_reencoded_copy(
    low_fps: dict[str, tuple[Fingerprint, Fingerprint]], name: str
) -> None:
    engine = Engine()
    engine.add(1, low_fps[name][0])
    # The same pixels in other bytes (no SHA-256 shortcut): at most `review`.
    for data in _reencoded(name):
        for match in engine.search(fingerprint(data)):
            assert match.verdict != "match", match


def _reencoded(name: str) -> list[bytes]:
    img = Image.open(io.BytesIO(LOW[name])).convert("RGB")
    return [imagegen.encode(img, "JPEG", quality=95), imagegen.encode(img, "BMP")]


def test_capped_score_stays_below_match_threshold(fps: dict[str, Fingerprint]) -> None:
    # A plain fill's PDQ is noise, so cap a rich work instead: marked low-information, its
    # near-perfect copy must come back as `review`, with a published score below the threshold.
    engine = Engine()
    engine.add(1, dataclasses.replace(fps["reference"], low_information_reason="forced for the test"))
    copy = Image.open(io.BytesIO(ART)).convert("RGB")
    matches = engine.search(fingerprint(imagegen.encode(copy, "JPEG", quality=95)))
    assert [m.key for m in matches] == [1]
    for match in matches:
        assert match.verdict == "review"
        assert match.score < MATCH_THRESHOLD, match
        assert scoring.verdict(match.score) == match.verdict


@pytest.mark.parametrize("name", list(LOW))
def test_low_information_query_never_matches_identical_bytes(
    low_fps: dict[str, tuple[Fingerprint, Fingerprint]], name: str
) -> None:
    engine = Engine()
    engine.add(1, low_fps[name][0])
    matches = engine.search(low_fps[name][1])
    assert all(m.verdict != "match" for m in matches), matches


def test_rich_work_still_matches_alongside_low_information_ones(
    fps: dict[str, Fingerprint], low_fps: dict[str, tuple[Fingerprint, Fingerprint]]
) -> None:
    engine = Engine()
    for i, (ref, _) in enumerate(low_fps.values()):
        engine.add(10 + i, ref)
    engine.add(1, fps["reference"])
    matches = engine.search(fingerprint(imagegen.encode(imagegen.jpeg(imagegen.artwork(21), 60), "PNG")))
    assert matches and matches[0].key == 1 and matches[0].verdict == "match"
    assert all(m.key == 1 for m in matches if m.verdict == "match")


def test_appearance_signature_round_trips_and_old_fingerprints_keep_their_bytes(
    fps: dict[str, Fingerprint],
) -> None:
    fp = fps["reference"]
    assert fp.appearance.shape == (255,) and fp.appearance.any()
    assert np.array_equal(Fingerprint.from_bytes(fp.to_bytes()).appearance, fp.appearance)
    # A fingerprint stored before signatures existed has none; re-serialising it must give the
    # same bytes, or its digest would no longer match the transparency log.
    old = dataclasses.replace(fp, appearance=np.zeros(0, np.int8), method=1)
    data = old.to_bytes()
    assert b'"appearance"' not in data and b'"method"' not in data
    back = Fingerprint.from_bytes(data)
    assert len(back.appearance) == 0 and back.to_bytes() == data and back.digest() == old.digest()
    assert old.digest() != fp.digest()


@pytest.mark.parametrize("field", ["appearance", "phash", "embedding", "views"])
@pytest.mark.parametrize("count", [-1, 10**9])
def test_from_bytes_rejects_impossible_counts(fps: dict[str, Fingerprint], count: int, field: str) -> None:
    """A damaged header must not make the reader take "the rest" or run past the end."""
    data = fps["reference"].to_bytes()
    (n,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8 : 8 + n])
    header[field] = count
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    damaged = data[:4] + struct.pack("<I", len(head)) + head + data[8 + n :]
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(damaged)


def test_only_registered_works_carry_a_phash(fps: dict[str, Fingerprint]) -> None:
    reference, query = fps["reference"], fps["query"]
    assert reference.phash.shape == (8,) and reference.phash.any()
    assert b'"phash"' not in reference.to_bytes()  # registered works' bytes and digests unchanged
    assert len(query.phash) == 0
    back = Fingerprint.from_bytes(query.to_bytes())
    assert len(back.phash) == 0 and back == query


def test_a_copy_of_a_faint_small_work_matches_and_other_faint_work_does_not() -> None:
    work = faint_small_artwork(1)
    copy = work.rotate(10, Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    query = fingerprint(imagegen.encode(copy, "JPEG", quality=70))
    engine = Engine()
    engine.add(1, fingerprint(imagegen.encode(work), role="reference"))
    engine.add(2, fingerprint(imagegen.encode(faint_small_artwork(51)), role="reference"))
    matches = engine.search(query)
    assert matches and matches[0].key == 1 and matches[0].verdict == "match"
    assert all(m.verdict != "match" for m in matches[1:])


def test_fingerprints_of_earlier_methods_keep_their_bytes_and_are_outdated(
    fps: dict[str, Fingerprint],
) -> None:
    current = fps["reference"]
    assert current.method == METHOD and not current.outdated
    assert Fingerprint.from_bytes(current.to_bytes()).method == METHOD
    # Method 2 stored no revision: its bytes must come back the same, and be known as outdated.
    before = dataclasses.replace(current, method=2)
    data = before.to_bytes()
    assert b'"method"' not in data
    back = Fingerprint.from_bytes(data)
    assert back.method == 2 and back.outdated and back.to_bytes() == data
    # Method 1 had no appearance signature either.
    oldest = Fingerprint.from_bytes(
        dataclasses.replace(current, appearance=np.zeros(0, np.int8), method=1).to_bytes()
    )
    assert oldest.method == 1 and oldest.outdated


def test_a_querys_mirrored_features_are_described_only_when_first_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine searches them only when the unmirrored features found no match, and describing
    the flipped image is a fifth of a query's fingerprint: they wait until asked for, then equal
    ORB's descriptors of the flipped image at the reflected keypoints, computed once."""
    calls = []
    describe = local_features._describe
    monkeypatch.setattr(local_features, "_describe", lambda *a: calls.append(1) or describe(*a))
    gray = cv2.cvtColor(np.asarray(imagegen.artwork(3, (800, 600))), cv2.COLOR_RGB2GRAY)
    _, mirrored = local_features.extract(gray, 300, mirror_budget=120)
    assert calls == [1]  # the image's own chosen keypoints only
    assert len(mirrored) == 120 and calls == [1, 1]
    assert mirrored.head(5).points.shape == (5, 2) and calls == [1, 1]  # kept, not described again
    # The same bits as describing the flipped image at the reflected keypoints directly.
    detector, chosen = _chosen_keypoints(gray, 300)
    right = gray.shape[1] - 1
    flipped = [
        cv2.KeyPoint(right - k.pt[0], k.pt[1], k.size, (180.0 - k.angle) % 360.0, k.response, k.octave)
        for k in chosen[:120]
    ]
    kept, descriptors = detector.compute(np.ascontiguousarray(gray[:, ::-1]), flipped)
    assert np.array_equal(mirrored.points, np.array([k.pt for k in kept], np.float32))
    assert np.array_equal(mirrored.descriptors, descriptors)


def test_a_pickled_query_carries_its_mirrored_features_not_the_image() -> None:
    """A worker process sends its fingerprint back pickled: the mirrored set goes as features."""
    data = imagegen.encode(imagegen.artwork(5, (700, 500)))
    fresh, eager = fingerprint(data), fingerprint(data)
    eager_bytes = eager.to_bytes()  # serialising describes them
    blob = pickle.dumps(fresh)  # so does pickling
    copy = pickle.loads(blob)
    assert type(copy.mirrored) is local_features.LocalFeatures and len(copy.mirrored) > 0
    assert copy.to_bytes() == eager_bytes == fresh.to_bytes()
    # The same pickle as a fingerprint described up front: no working-size image inside.
    assert len(blob) == len(pickle.dumps(eager))
