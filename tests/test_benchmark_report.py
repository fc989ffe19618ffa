"""The benchmark report renders a stored results file, with precision's interval when it is there."""

import copy
import json
from pathlib import Path

from benchmarks.metrics import wilson_interval
from benchmarks.report import markdown

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "detection-seed2.json"


def _engine_row(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("| engine |"))


def test_results_without_an_interval_render_the_bare_precision() -> None:
    res = json.loads(RESULTS.read_text())
    for stats in (res["methods"]["engine"]["overall"], *res["methods"]["engine"]["by_corpus"].values()):
        stats.pop("precision_at_match_ci95", None)
    row = _engine_row(markdown(res))
    assert f"| {res['methods']['engine']['overall']['precision_at_match']:.3f} |" in row
    assert "false]" not in row


def test_the_interval_and_false_count_follow_the_precision() -> None:
    res = copy.deepcopy(json.loads(RESULTS.read_text()))
    overall = res["methods"]["engine"]["overall"]
    overall["matches"] = [3689, 3729]
    overall["precision_at_match"] = 3689 / 3729  # set here, not left to whatever run the file holds
    overall["precision_at_match_ci95"] = list(wilson_interval(3689, 3729))
    row = _engine_row(markdown(res))
    assert f"{3689 / 3729:.3f} [0.985, 0.992; 40 of 3729 false]" in row


def test_the_verified_section_counts_verdicts_and_shows_raw_beside_verified() -> None:
    res = copy.deepcopy(json.loads(RESULTS.read_text()))
    engine = res["methods"]["engine"]
    engine["false_matches"] = [
        {"verdict": v} for v in ("derivative", "derivative", "different", "unreviewed")
    ]
    engine["overall"]["distractor_fp_rate"] = 0.065
    engine["verified"]["distractor_fp_rate"] = 0.005
    row = next(
        line
        for line in markdown(res).split("### Against the verified ground truth")[1].splitlines()
        if line.startswith("| engine |")
    )
    assert "| 2 / 1 / 1 |" in row
    assert "| 0.065 → 0.005 |" in row


def test_results_from_before_the_review_render_without_the_section() -> None:
    res = copy.deepcopy(json.loads(RESULTS.read_text()))
    for m in res["methods"].values():
        m.pop("verified")
    assert "verified ground truth" not in markdown(res)
