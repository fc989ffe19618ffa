"""The registry-growth benchmark counts each method's `match`es per registry the way its table says."""

from benchmarks.growth import _tally, markdown
from benchmarks.queries import Query


def _q(qid: int, truth: int | None) -> Query:
    return Query(qid, f"/q/{qid}.png", "jpeg", "mild", "clipart", truth)


def test_tally_splits_true_wrong_distractor_and_added_work_matches() -> None:
    queries = [_q(0, 1), _q(1, 2), _q(2, 3), _q(3, None), _q(4, None)]
    found = {0: {1}, 1: {2, 10}, 2: set(), 3: {11}, 4: set()}
    assert _tally(found, queries, added={10, 11}) == {
        "true": 2,
        "copies": 3,
        "wrong": 1,  # query 1 also named work 10
        "distractors_at_match": 1,
        "distractors": 2,
        "naming_added": 2,  # work 10 for a copy, work 11 for a distractor
    }


def test_markdown_shows_both_registries_and_lists_matches_naming_added_works() -> None:
    tally = {
        "true": 2,
        "copies": 3,
        "wrong": 1,
        "distractors_at_match": 1,
        "distractors": 2,
        "naming_added": 2,
    }
    res = {
        "config": {"seed": 0, "per_transform": 1},
        "works": {"refs": 3, "refs + more": 5, "indexed": 5},
        "tallies": {"engine": {"refs": tally, "refs + more": tally}},
        "engine_matches_naming_added": [
            {
                "query": "/q/3.png",
                "transform": "jpeg",
                "truth": None,
                "work": "clipart/x",
                "score": 0.9,
                "kind": "near",
            }
        ],
    }
    text = markdown(res)
    assert "| engine | 3 (refs) | 2 of 3 | 1 | 1 of 2 (50.00 %) | – |" in text
    assert "| engine | 5 (refs + more) | 2 of 3 | 1 | 1 of 2 (50.00 %) | 2 |" in text
    assert "- jpeg distractor `3.png` → `clipart/x` (near, 0.900)" in text
