"""The full-size photo benchmark cuts its photographs into disjoint registered and distractor windows."""

import numpy as np
from PIL import Image

from benchmarks.photos import photo_windows


def _photo(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_large_photographs_are_cut_and_split_into_works_and_distractors() -> None:
    earth, retina = _photo(2048, 1024, 1), _photo(1411, 1411, 2)
    works, distractors = photo_windows({"earth": earth, "retina": retina, "coffee": _photo(600, 400, 3)})
    names = [n for n, _ in works]
    assert names == [
        "coffee",
        "earth_r0_c0",
        "earth_r0_c1",
        "earth_r0_c2",
        "earth_r0_c3",
        "retina_r0_c0",
        "retina_r0_c1",
    ]
    assert [n for n, _ in distractors] == [f"earth_r1_c{c}" for c in range(4)] + [
        "retina_r1_c0",
        "retina_r1_c1",
    ]
    by_name = dict(works + distractors)
    # A photograph not in the cut list is registered whole.
    assert by_name["coffee"].size == (600, 400)
    # Windows are the photograph's own pixels, side by side and disjoint.
    assert by_name["earth_r1_c2"].size == (512, 512)
    assert np.array_equal(np.asarray(by_name["earth_r1_c2"]), np.asarray(earth)[512:1024, 1024:1536])
    assert by_name["retina_r0_c1"].size == (705, 705)
    assert np.array_equal(np.asarray(by_name["retina_r0_c1"]), np.asarray(retina)[0:705, 705:1410])
