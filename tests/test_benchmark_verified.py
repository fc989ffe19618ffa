"""The verified ground truth: reviewed pairs load, derivative pairs leave scoring, the rest stay false."""

import csv
from pathlib import Path

import pytest

from benchmarks import metrics, verified
from benchmarks.corpus import Corpus, Work
from benchmarks.queries import Query, hash_name


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([verified.COLUMNS, *rows])
    return path


def _corpus() -> tuple[Corpus, list[Query]]:
    refs = [Work(0, "clipart/a/flag_uk", "clipart", "/n/uk.png", True),
            Work(1, "clipart/a/flag_au", "clipart", "/n/au.png", True),
            Work(2, "clipart/b/sign_no_entry", "clipart", "/n/ne.png", True)]  # fmt: skip
    dis = [Work(-1, "clipart/b/sign_keep_left", "clipart", "/n/kl.png", True)]
    queries = [
        Query(0, "/q/jpeg/ref_1.jpg", "jpeg", "mild", "clipart", 0),
        Query(1, f"/q/blur/dis_{hash_name(dis[0].name)}.png", "blur", "mild", "clipart", None),
    ]
    return Corpus(refs, dis), queries


def test_pairs_load_unordered_and_a_bad_verdict_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", [["x", "y", "derivative", "recoloured"], ["y", "z", "different", ""]])
    got = verified.load(path)
    assert got == {frozenset(("x", "y")): "derivative", frozenset(("z", "y")): "different"}
    assert verified.load(tmp_path / "absent.csv") == {}
    _write(path, [["x", "y", "derivative", ""], ["x", "z", "same", ""]])
    with pytest.raises(ValueError, match=r"p\.csv:3: verdict"):
        verified.load(path)


def test_only_derivative_pairs_drop_and_false_matches_carry_their_verdict() -> None:
    corpus, queries = _corpus()
    sources = verified.source_names(corpus, queries)
    assert sources == {0: "clipart/a/flag_uk", 1: "clipart/b/sign_keep_left"}
    names = {w.key: w.name for w in corpus.refs}
    verdicts = {
        frozenset(("clipart/a/flag_uk", "clipart/a/flag_au")): "derivative",
        frozenset(("clipart/b/sign_keep_left", "clipart/b/sign_no_entry")): "different",
    }
    preds = [
        metrics.Pred(0, 0, 0.95, True),  # the query's own work
        metrics.Pred(0, 1, 0.90, True),  # Australia's flag holds the UK's: a derivative
        metrics.Pred(1, 2, 0.85, True),  # keep-left against no-entry: a real false match
        metrics.Pred(1, 0, 0.30, False),  # below `match`: not listed, not dropped
    ]
    kept = verified.without_derivatives(preds, sources, names, verdicts)
    assert kept == [preds[0], preds[2], preds[3]]
    truth = {0: 0, 1: None}
    assert metrics.precision_at_match(preds, truth) == pytest.approx(1 / 3)
    assert metrics.precision_at_match(kept, truth) == pytest.approx(1 / 2)
    assert metrics.distractor_fp_rate(kept, truth) == 1.0

    listed = verified.false_matches(preds, queries, sources, names, verdicts)
    assert [(f["matched_work"], f["verdict"], f["distractor"]) for f in listed] == [
        ("clipart/a/flag_au", "derivative", False),
        ("clipart/b/sign_no_entry", "different", True),
    ]
    assert verified.false_matches(preds, queries, sources, names, {})[0]["verdict"] == "unreviewed"


def test_the_committed_review_is_well_formed() -> None:
    pairs = verified.load()
    assert all(len(p) == 2 for p in pairs)
    with verified.PAIRS.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(pairs), "a pair is listed twice"
