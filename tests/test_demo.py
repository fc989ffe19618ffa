"""`rights demo` on the real samples: its findings must agree with samples/ground_truth.csv."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from workers.demo import default_samples, run_demo

SAMPLES = default_samples()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("demo")
    stream = io.StringIO()
    result = run_demo(data=root / "data", out=root / "out", workers=2, stream=stream)
    result.printed = stream.getvalue()  # type: ignore[attr-defined]
    return result


def _truth() -> list[dict[str, str]]:
    with open(SAMPLES / "ground_truth.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_demo_findings_match_ground_truth(demo) -> None:
    findings = [json.loads(line) for line in demo.findings.read_text(encoding="utf-8").splitlines()]
    truth = _truth()
    assert len(findings) == len(truth)
    problems = []
    for finding, expected in zip(findings, truth, strict=True):
        kind, top = expected["kind"], (finding["matches"] or [None])[0]
        if kind in ("pirated", "licensed"):
            ok = (
                finding["verdict"] == "match"
                and top["work_id"] == demo.works[expected["expected_work"]]
                and top["licensed"] is (kind == "licensed")
            )
        elif kind == "unrelated":
            ok = finding["verdict"] != "match"
        else:
            ok = finding["verdict"] == "error"
        if not ok:
            got = f"{finding['verdict']} {top['title']} {top['score']:.2f}" if top else finding["verdict"]
            problems.append(
                f"line {expected['line']} {expected['listing_id']} {kind}/{expected['transform']}: {got}"
            )
    assert not problems, "\n".join(problems)


def test_demo_writes_report_notices_and_summary(demo) -> None:
    assert demo.seconds < 60
    assert "scanned 148 listings" in demo.printed and "cases:" in demo.printed
    page = demo.report.read_text(encoding="utf-8")
    assert "148 listings scanned" in page
    assert demo.notices and all(p.stat().st_size > 1000 for p in demo.notices)
    suffixes = {p.name.partition(".")[2] for p in demo.notices}
    assert suffixes == {"md", "html", "json", "zh.md", "zh.html", "zh.json"}
    # The notices are drafts until each holder stores a legal name and contact: the summary says how.
    assert "rights profile set --account NAME" in demo.printed
    english = next(p for p in demo.notices if p.name.endswith(".md") and not p.name.endswith(".zh.md"))
    assert "[to be completed by the rights holder]" in english.read_text("utf-8")
    # The registered works as a PDQ signal file a platform's HMA loads as a bank.
    listed = demo.hashes.read_text().splitlines()
    assert len(listed) == len(set(demo.works.values())) and all(
        re.fullmatch("pdq [0-9a-f]{64}", x) for x in listed
    )
    assert f"hashes:   {len(listed)} works' PDQ in " in demo.printed
    # Every hit shows the listing beside the registered work, whose picture comes from its original
    # (the scan stores only the listing's).
    hits = page.count('<section class="hit">')
    assert hits > 50 and page.count('alt="registered work"') == hits == page.count('alt="listing image"')


def test_stored_evidence_keeps_the_listing_picture_not_the_work_again(demo) -> None:
    import json
    import sqlite3

    conn = sqlite3.connect(demo.findings.parent.parent / "data" / "rights.sqlite3")
    stored = [
        json.loads(r[0]) for r in conn.execute("SELECT evidence FROM scan_items WHERE evidence IS NOT NULL")
    ]
    cases_evidence = [json.loads(r[0]) for r in conn.execute("SELECT evidence FROM cases")]
    conn.close()
    assert stored and all(e["query_thumb"] and "work_thumbs" not in e for e in stored)
    assert cases_evidence and all(e["work_thumb"] and e["query_thumb"] for e in cases_evidence)


def test_demo_is_idempotent(demo, tmp_path: Path) -> None:
    again = run_demo(data=demo.findings.parent.parent / "data", out=tmp_path, workers=1, stream=io.StringIO())
    assert again.works == demo.works
    assert again.findings.read_bytes() == demo.findings.read_bytes()
    assert again.outcome.skipped == 0  # a finished scan is not resumed: the feed is scanned afresh
    assert again.outcome.cases_opened == 0  # and finds the same cases, not new ones


def test_a_rerun_drops_the_notices_of_cases_no_longer_open(demo) -> None:
    """Last in this file: it dismisses a case in the shared demo registry."""
    from rights import cases, db
    from rights.registry import Registry

    out = demo.findings.parent
    dismissed = demo.notices[0]
    case_id = int(dismissed.name.split(".")[0].removeprefix("case-"))
    with Registry.open(demo.findings.parent.parent / "data") as registry, db.transaction(registry.db):
        cases.change_status(registry.db, case_id, "dismissed", actor="test")
    again = run_demo(data=out.parent / "data", out=out, workers=1, stream=io.StringIO())
    on_disk = sorted(p.name for p in (out / "notices").iterdir())
    assert on_disk == sorted(p.name for p in again.notices)
    assert not any(name.startswith(f"case-{case_id}.") for name in on_disk)
    assert len(on_disk) == len(demo.notices) - 6  # its Markdown, HTML and JSON, in English and Chinese


@pytest.mark.parametrize(
    ("works_csv", "licences_csv", "said"),
    [
        ("file,title\nworks/a.png,A\n", None, "no creator column"),  # was KeyError: 'creator'
        ("file,title,creator\nworks/a.png,,ann\n", None, "line 2: empty file, creator, title cell"),
        ("file,title,creator\n", "file,licensee\nother.png,shop\n", "other.png is not in works.csv"),
    ],
)
def test_malformed_samples_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], works_csv: str, licences_csv: str | None, said: str
) -> None:
    from workers.cli import main

    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "works.csv").write_text(works_csv)
    (samples / "feed.jsonl").write_text("")
    if licences_csv is not None:
        (samples / "licenses.csv").write_text(licences_csv)
    argv = ["--data", str(tmp_path / "data"), "demo", "--samples", str(samples), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_demo_out_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workers.cli import main

    (tmp_path / "a-file").write_text("keep")
    assert main(["--data", str(tmp_path / "data"), "demo", "--out", str(tmp_path / "a-file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    assert (tmp_path / "a-file").read_text() == "keep"


def test_the_demo_refuses_a_registry_of_other_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With $RIGHTS_DATA naming a real registry, the demo added 30 sample works and 6 licences to its
    public log for good (an audit)."""
    from rights.registry import Registry
    from tests.rights_support import artwork_png
    from workers.cli import main

    data = tmp_path / "data"
    with Registry.open(data) as registry:
        registry.register("someone", artwork_png(5))
        size = registry.log.size()
    assert main(["--data", str(data), "demo", "--out", str(tmp_path / "o")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "holds 1 works that are not the demo's" in line and "--data DIR" in line
    with Registry.open(data) as registry:
        assert registry.log.size() == size
