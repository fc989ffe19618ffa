"""Image panels in screenshots (``indexes.panels``), and what the engine does with them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from indexes import Engine, fingerprint, fingerprinting, global_hashes, local_features
from indexes.panels import panels
from tests import imagegen


def _small(img: Image.Image) -> np.ndarray:
    return global_hashes.thumbnail(np.asarray(img.convert("RGB")))


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def test_the_artwork_panel_of_a_listing_page_is_found() -> None:
    page, box = imagegen.listing_page(imagegen.artwork(3), seed=3)
    found = panels(_small(page))
    assert found, "no panel"
    scale = page.width / 256
    x, y, w, h = found[0]
    assert _iou((round(x * scale), round(y * scale), round(w * scale), round(h * scale)), box) > 0.85


def test_a_photo_edge_to_edge_or_a_plain_page_has_no_panel() -> None:
    assert panels(_small(imagegen.artwork(4))) == []  # content runs to the edges
    assert panels(_small(imagegen.plain_fill())) == []


def test_a_work_without_corners_is_found_in_a_page_by_its_panel() -> None:
    """A smooth work gives ORB nothing to place once enlarged on a page; the panel's PDQ still
    names it, as `partial` with the panel as its region."""
    art = imagegen.artwork(5, (320, 320)).filter(ImageFilter.GaussianBlur(6))
    engine = Engine()
    engine.add(1, fingerprint(imagegen.encode(art), role="reference"))
    for seed in (901, 902):  # unrelated works, so that the index is not trivially one work
        engine.add(seed, fingerprint(imagegen.encode(imagegen.artwork(seed)), role="reference"))
    page, box = imagegen.listing_page(art, seed=5)
    fp = fingerprint(imagegen.encode(page, "JPEG", quality=85))
    assert fp.panels and _iou(fp.panels[0], box) > 0.85
    # Without local features only the panel can find it.
    bare = dataclasses.replace(fp, local=local_features.NONE, mirrored=local_features.NONE)
    matches = engine.search(bare)
    assert matches and matches[0].key == 1 and matches[0].verdict == "match", matches
    assert matches[0].kind == "partial" and _iou(matches[0].region, box) > 0.85
    # The panels survive serialisation, so a stored query keeps them.
    assert type(fp).from_bytes(fp.to_bytes()).panels == fp.panels


def test_unrelated_pages_match_nothing_by_their_panels() -> None:
    engine = Engine()
    for seed in range(901, 905):
        engine.add(seed, fingerprint(imagegen.encode(imagegen.artwork(seed)), role="reference"))
    for seed in (911, 912):
        page, _ = imagegen.listing_page(imagegen.artwork(seed), seed=seed)
        fp = fingerprint(imagegen.encode(page, "JPEG"))
        assert fp.panels
        assert all(m.verdict != "match" for m in engine.search(fp))


def test_a_transparent_work_flattened_onto_a_colour_is_found_by_its_whitened_panel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A transparent work is registered flattened onto white; a listing page showing it flattened
    onto a colour fills its panel with that colour. The panel is also hashed with that colour made
    white, which names the work where the panel as it is does not."""
    # A few shapes on a transparent canvas: the background colour is most of the panel.
    art = Image.new("RGBA", (320, 320), (0, 0, 0, 0))
    draw = ImageDraw.Draw(art)
    draw.ellipse((40, 40, 120, 120), fill=(230, 160, 20, 255), outline=(0, 0, 0, 255), width=4)
    draw.rectangle((180, 60, 270, 110), fill=(30, 120, 200, 255))
    draw.polygon([(60, 280), (150, 170), (220, 290)], fill=(40, 170, 60, 255), outline=(0, 0, 0, 255))
    draw.line((200, 160, 300, 260), fill=(0, 0, 0, 255), width=8)
    engine = Engine()
    engine.add(1, fingerprint(imagegen.encode(art), role="reference"))
    for seed in (901, 902):
        engine.add(seed, fingerprint(imagegen.encode(imagegen.artwork(seed)), role="reference"))
    page, box = imagegen.listing_page(imagegen.on_background(art, (200, 40, 40)), seed=6)

    def found_by_panels() -> list[int]:
        fp = fingerprint(imagegen.encode(page, "JPEG", quality=85))
        assert fp.panels and _iou(fp.panels[0], box) > 0.85
        # Neither local features nor the page's items (cut out tight, a whole query's whitened
        # view finds it): only the panel's views can name it.
        bare = dataclasses.replace(fp, local=local_features.NONE, mirrored=local_features.NONE, items=())
        return [m.key for m in engine.search(bare) if m.verdict == "match"]

    assert found_by_panels() == [1]
    monkeypatch.setattr(fingerprinting, "background_to_white", lambda rgb: None)
    assert found_by_panels() == []
