"""The review tool: sheets of the unreviewed false matches, and a filled form recorded whole or not at all."""

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from benchmarks import review, verified
from benchmarks.corpus import norm_path

NAMES = ["clipart/signs/keep_left", "clipart/signs/no_entry", "clipart/flags/uk", "clipart/flags/australia"]


def _results(path: Path) -> Path:
    def fm(image: str, work: str) -> dict:
        return {"image": image, "matched_work": work, "verdict": "unreviewed"}

    path.write_text(
        json.dumps(
            {
                "methods": {
                    "phash": {"false_matches": [fm(NAMES[0], NAMES[1])]},
                    "engine": {"false_matches": [fm(NAMES[1], NAMES[0]), fm(NAMES[3], NAMES[2])]},
                }
            }
        )
    )
    return path


def _pairs(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([verified.COLUMNS, *rows])
    return path


def test_sheets_list_each_unreviewed_pair_once_with_who_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIGHTS_BENCH_CACHE", str(tmp_path / "cache"))
    for i, name in enumerate(NAMES):
        norm_path(name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGBA", (300, 200 + 40 * i), (200, 30 * i, 0, 255)).save(norm_path(name))
    results = _results(tmp_path / "det0.json")
    reviewed = {frozenset((NAMES[3], NAMES[2])): "derivative"}
    rows = review.pending([results], reviewed)
    assert [(r["image"], r["matched_work"], r["by"]) for r in rows] == [
        (NAMES[0], NAMES[1], ["engine:det0", "phash:det0"])
    ]

    out = tmp_path / "out"
    assert review.main(["sheets", str(results), "--out", str(out)]) == 0
    with Image.open(out / "sheet00.png") as sheet:
        assert sheet.size == (3 * 2 * (review.TILE + 10), 4 * (review.TILE + 25))
    with (out / "pending.csv").open(newline="", encoding="utf-8") as fh:
        form = list(csv.DictReader(fh))
    assert len(form) == 2  # main() reads the committed review, which does not hold these names
    assert {f["verdict"] for f in form} == {""}


def test_a_filled_form_is_appended_and_an_incomplete_one_changes_nothing(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "pairs.csv", [[NAMES[3], NAMES[2], "derivative", "the UK flag in the canton"]])
    form = tmp_path / "pending.csv"
    with form.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(review.FORM_COLUMNS)
        writer.writerow([NAMES[0], NAMES[1], "different", "two signs sharing a disc", "engine:det0"])
        writer.writerow([NAMES[2], NAMES[1], "", "", "phash:det0"])
    before = pairs.read_bytes()
    with pytest.raises(ValueError, match=r"pending\.csv:3: verdict"):
        review.record(form, pairs)
    assert pairs.read_bytes() == before

    form.write_text(form.read_text().splitlines()[0] + "\n" + form.read_text().splitlines()[1] + "\n")
    assert review.record(form, pairs) == 1
    assert verified.load(pairs)[frozenset((NAMES[0], NAMES[1]))] == "different"
    with pytest.raises(ValueError, match="already reviewed"):
        review.record(form, pairs)
    assert len(pairs.read_text().splitlines()) == 3


def test_record_starts_a_missing_file_with_its_header(tmp_path: Path) -> None:
    form = tmp_path / "pending.csv"
    form.write_text(",".join(review.FORM_COLUMNS) + f"\n{NAMES[0]},{NAMES[1]},derivative,same sign,x\n")
    pairs = tmp_path / "new.csv"
    assert review.record(form, pairs) == 1
    assert verified.load(pairs) == {frozenset((NAMES[0], NAMES[1])): "derivative"}


def test_results_written_before_false_matches_were_listed_are_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"methods": {"engine": {"overall": {}}}}))
    with pytest.raises(ValueError, match="run the benchmark again"):
        review.pending([old], {})


def test_a_form_without_the_verdict_column_names_what_is_missing(tmp_path: Path) -> None:
    form = tmp_path / "pending.csv"
    form.write_text(f"image,matched_work,found_by\n{NAMES[0]},{NAMES[1]},x\n")
    with pytest.raises(ValueError, match="missing verdict, note"):
        review.record(form, tmp_path / "pairs.csv")
    assert not (tmp_path / "pairs.csv").exists()
    assert review.main(["sheets", str(tmp_path / "absent.json"), "--out", str(tmp_path / "o")]) == 2
