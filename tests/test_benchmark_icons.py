"""The icon benchmark keeps only icons distinct from the registered works and from each other,
and renders every kept icon under every transform."""

import io
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageOps

from benchmarks.corpus import Work, keep_distinct, norm_path
from benchmarks.queries import ISSUE_TRANSFORMS, every_transform


def _drawing(seed: int, size: int = 256) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        points = [(rng.randrange(size), rng.randrange(size)) for _ in range(4)]
        draw.polygon(points, fill=tuple(rng.randrange(256) for _ in range(3)), outline="black")
    return img


def _save(img: Image.Image, folder: Path, name: str) -> str:
    path = folder / f"{name}.png"
    img.save(path)
    return str(path)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RIGHTS_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_only_icons_distinct_from_the_works_and_each_other_are_kept(cache: Path) -> None:
    registered = _drawing(1)
    refs = [Work(0, "clipart/registered", "clipart", _save(registered, cache, "registered"), False)]
    items = [
        ("icon/a/copy_of_registered", _save(registered, cache, "copy")),
        ("icon/a/new", _save(_drawing(2), cache, "new")),
        ("icon/a/new_mirrored", _save(ImageOps.mirror(_drawing(2)), cache, "mirrored")),
        ("icon/a/other", _save(_drawing(3), cache, "other")),
        ("icon/a/blank", _save(Image.new("RGB", (256, 256), "white"), cache, "blank")),
        ("icon/a/tiny", _save(_drawing(4, size=40), cache, "tiny")),
    ]
    kept = keep_distinct(refs, items)
    assert [name for name, _ in kept] == ["icon/a/new", "icon/a/other"]
    assert all(norm_path(name).exists() for name, _ in kept)


def test_every_icon_is_rendered_under_every_transform(cache: Path) -> None:
    works = [
        Work(7, "icon/a/work", "clipart", _save(_drawing(5), cache, "work"), False),
        Work(-1, "icon/a/distractor", "clipart", _save(_drawing(6), cache, "distractor"), False),
    ]
    queries = every_transform(works, ISSUE_TRANSFORMS, 0, cache / "queries")
    n = len(ISSUE_TRANSFORMS.transforms)
    assert len(queries) == 2 * n
    assert [q.truth for q in queries] == [7] * n + [None] * n
    assert {q.transform for q in queries} == {t.name for t in ISSUE_TRANSFORMS.transforms}
    assert all(Path(q.path).is_file() and Path(q.path).stat().st_size > 0 for q in queries)
    assert all(Path(q.path).name.startswith("dis_") == (q.truth is None) for q in queries)


def test_an_icon_the_renderer_cannot_draw_is_skipped_and_named(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import icons, sources

    folder = cache / "svg" / "actions"
    folder.mkdir(parents=True)
    good, bad = folder / "good.svg", folder / "broken.svg"
    good.write_text("<svg/>")
    bad.write_text("<svg")

    def draw(svg_path: str, width: int, height: int) -> bytes:
        # Stands in for resvg (a wheel the benchmark downloads): the same call and the same
        # ValueError for a file it cannot parse.
        if svg_path.endswith("broken.svg"):
            raise ValueError("SVG data parsing failed")
        buf = io.BytesIO()
        _drawing(7, size=width).save(buf, format="PNG")
        return buf.getvalue()

    monkeypatch.setattr(sources, "tango_svgs", lambda: [bad, good])
    monkeypatch.setattr(sources, "svg_to_png", lambda: draw)
    files = icons.icon_files()
    assert [name for name, _ in files] == ["icon/actions/good"]
    with Image.open(files[0][1]) as drawn:
        assert drawn.size == (icons.SIDE, icons.SIDE)
    assert "skipped broken.svg: SVG data parsing failed" in capsys.readouterr().err
