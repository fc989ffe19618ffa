"""``rights demo``: register the sample works, add their licences, scan the sample feed, write it all up.

Idempotent: registering the same bytes again returns the existing work, licences are only added once,
and a second run scans the feed again into the same findings, without new cases (one per work and
listing). An interrupted run resumes its scan.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rights import cases, db, hash_lists
from rights.case_notice import notice_for
from rights.config import Settings
from rights.errors import BadInput
from rights.notices import render_notice
from rights.registry import Registry
from workers.local_pool import LocalPool
from workers.report import VERDICT_ORDER, Summary
from workers.scan import ScanOutcome, make_context, run_scan

__all__ = ["DemoResult", "default_samples", "run_demo"]


@dataclass
class DemoResult:
    outcome: ScanOutcome
    works: dict[str, str]  # sample file → work id
    findings: Path
    report: Path
    notices: list[Path]
    seconds: float
    hashes: Path  # the works' PDQ hashes as a ThreatExchange signal file


def default_samples() -> Path:
    """``samples/`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parent.parent / "samples"


def run_demo(
    *,
    data: Path,
    out: Path,
    samples: Path | None = None,
    workers: int | None = None,
    stream: TextIO | None = None,
) -> DemoResult:
    started = time.perf_counter()
    samples = samples or default_samples()
    stream = stream or sys.stdout
    for needed in ("works.csv", "feed.jsonl"):
        if not (samples / needed).is_file():
            raise BadInput(f"{samples / needed} is missing: run from a source checkout or pass --samples DIR")
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file; give a folder for the findings, report and notices")
    out.mkdir(parents=True, exist_ok=True)
    with Registry.open(Settings(data=data)) as registry:
        _refuse_other_works(registry, samples)
        works = _register(registry, samples)
        _licences(registry, samples, works)
        with LocalPool(make_context(registry), workers or os.cpu_count()) as pool:
            outcome = run_scan(
                samples / "feed.jsonl",
                registry=registry,
                runner=pool,
                out=out / "findings.jsonl",
                report=out / "report.html",
            )
        notices = _notices(registry, outcome.scan_id, out / "notices")
        listed = _hash_list(registry, out / "hashes.txt")
        seconds = time.perf_counter() - started
        _print_summary(stream, outcome.summary, registry, outcome.scan_id, len(works), seconds)
    print(f"findings: {out / 'findings.jsonl'}", file=stream)
    print(f"report:   {out / 'report.html'}", file=stream)
    print(f"notices:  {len(notices)} files in {out / 'notices'}", file=stream)
    # Drafts: the registry knows account names, not the holders' legal names or addresses.
    print("          drafts: store each holder's legal name and contact once with", file=stream)
    print("          `rights profile set --account NAME --legal-name ... --contact ...`", file=stream)
    print(f"hashes:   {listed} works' PDQ in {out / 'hashes.txt'} (for HMA / ThreatExchange)", file=stream)
    return DemoResult(
        outcome, works, out / "findings.jsonl", out / "report.html", notices, seconds, out / "hashes.txt"
    )


def _hash_list(registry: Registry, path: Path) -> int:
    """The registered works as a PDQ signal file (``rights hashes export``); how many it lists."""
    hash_lists.fill_missing(registry.db, registry.data_dir)
    lines = [hash_lists.signal_line(entry) + "\n" for entry in hash_lists.exported(registry.db)]
    db.atomic_write(path, "".join(lines).encode())
    return len(lines)


def _refuse_other_works(registry: Registry, samples: Path) -> None:
    """The demo belongs in a registry of its own: run where ``$RIGHTS_DATA`` names a real one, it
    would add its sample works and licences to that registry's public log for good (an audit)."""
    ours = {
        hashlib.sha256((samples / row["file"]).read_bytes()).hexdigest()
        for row in _rows(samples / "works.csv", ("file", "creator", "title"))
    }
    stored = [row[0] for row in registry.db.execute("SELECT sha256 FROM works")]
    others = sum(1 for sha in stored if sha not in ours)
    if others:
        raise BadInput(
            f"the data directory {registry.data_dir} holds {others} works that are not the demo's: the demo"
            " would add its sample works and licences to that registry's log for good; give it a folder"
            " of its own with --data DIR"
        )


def _register(registry: Registry, samples: Path) -> dict[str, str]:
    works: dict[str, str] = {}
    for row in _rows(samples / "works.csv", ("file", "creator", "title")):
        body = registry.register(row["creator"], (samples / row["file"]).read_bytes(), title=row["title"])
        works[row["file"]] = body["work_id"]
    return works


def _licences(registry: Registry, samples: Path, works: dict[str, str]) -> None:
    path = samples / "licenses.csv"
    if not path.is_file():
        return
    for row in _rows(path, ("file", "licensee")):
        work_id = works.get(row["file"])
        if work_id is None:
            raise BadInput(f"{path}: {row['file']} is not in works.csv")
        platform = row.get("platform") or None
        have = {(lic["licensee"], lic["platform"]) for lic in registry.list_licenses(work_id)}
        if (row["licensee"], platform) not in have:
            registry.add_license(work_id, row["licensee"], platform, row.get("expires_at") or None)


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """A samples CSV's rows; a missing column or cell is bad input naming the file and line."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or ())]
        if missing:
            raise BadInput(f"{path}: no {', '.join(missing)} column (it needs {', '.join(required)})")
        for row in reader:
            if any(not row.get(c) for c in required):
                raise BadInput(f"{path}, line {reader.line_num}: empty {', '.join(required)} cell")
            yield row


# Every format in both languages: case-N.md, .html, .json and case-N.zh.md, .zh.html, .zh.json.
_NOTICE_FILE = re.compile(r"case-[0-9]+(\.zh)?\.(md|html|json)")


def _notices(registry: Registry, scan_id: str, folder: Path) -> list[Path]:
    """A takedown notice (Markdown, HTML and JSON, in English and Chinese) for each open case of this scan."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    after = 0
    while page := cases.list_cases(registry.db, status="open", after_id=after, limit=500):
        for case in page:
            after = case.id
            if case.last_scan_id != scan_id:
                continue
            notices = {lang: notice_for(registry, case, lang=lang) for lang in ("en", "zh")}
            for lang, notice in notices.items():
                for fmt in ("md", "html", "json"):
                    path = folder / f"case-{case.id}{'' if lang == 'en' else '.' + lang}.{fmt}"
                    path.write_text(render_notice(notice, fmt), "utf-8")
                    written.append(path)
    # A rerun after a case was dismissed or its work withdrawn must not leave that case's old draft.
    kept = set(written)
    for old in folder.iterdir():
        if _NOTICE_FILE.fullmatch(old.name) and old not in kept:
            old.unlink()
    return written


def _print_summary(
    stream: TextIO, summary: Summary, registry: Registry, scan_id: str, n_works: int, seconds: float
) -> None:
    rows = [[p, *(str(summary.counts[p][v]) for v in VERDICT_ORDER)] for p in sorted(summary.counts)]
    totals = summary.totals()
    rows.append(["all", *(str(totals[v]) for v in VERDICT_ORDER)])
    header = ["platform", *VERDICT_ORDER]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(
        f"registered {n_works} works; scanned {sum(totals.values())} listings in {seconds:.1f} s", file=stream
    )
    for k, row in enumerate([header, *rows]):
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ),
            file=stream,
        )
        if k == 0 or k == len(rows) - 1:
            print("  ".join("-" * w for w in widths), file=stream)
    by_status = cases.count_by_status(registry.db, scan_id=scan_id)
    print("cases: " + (", ".join(f"{n} {s}" for s, n in by_status.items()) or "none"), file=stream)
