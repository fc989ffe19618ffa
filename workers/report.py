"""One self-contained HTML file a person can open from a mail attachment: no scripts, no external URLs.

Layout: a summary table (listings per platform and verdict), then each hit side by side: the listing
image with the matched region boxed, and the registered work it matched. Images are inline base64
JPEG thumbnails from the scan's evidence, so the file is correct after the listings are gone. It is
written as it is rendered, so a scan with many hits never builds the whole page in memory, and it shows
at most ``MAX_HITS`` hits: at ~38 kB a hit (two thumbnails), 10,000 would make a 380 MB page that no
browser opens comfortably; the findings file and the cases hold every one.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from rights.evidence import boxed_thumbnail, data_uri
from rights.output_files import written
from rights.text import shown_controls

__all__ = ["Summary", "write_report"]

VERDICT_ORDER = ("match", "review", "clear", "error")
# Hits shown side by side, in feed order (~38 MB of page); the summary still counts every listing.
MAX_HITS = 1000

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;
padding:0 1rem;color:#1c1c1c}
h1{font-size:1.6rem}table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.3rem .7rem;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f2f2f2}.hit{border:1px solid #ddd;border-radius:6px;margin:1.2rem 0;padding:.8rem}
.hit h3{margin:.2rem 0 .6rem;font-size:1.1rem}.pair{display:flex;gap:1rem;flex-wrap:wrap}
figure{margin:0;flex:1 1 18rem}figure img{max-width:100%;border:1px solid #ccc;display:block}
figcaption{font-size:.85rem;color:#555}.v-match{color:#b00020;font-weight:600}.v-review{color:#a05a00;font-weight:600}
.meta{font-size:.9rem;color:#333}.lic{color:#1b6e20}
"""


@dataclass
class Summary:
    """Listing counts per platform and verdict, filled while findings stream past."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, finding: dict[str, Any]) -> None:
        platform = str(finding.get("platform") or "(unknown)")
        self.counts.setdefault(platform, Counter())[str(finding.get("verdict"))] += 1

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for c in self.counts.values():
            total.update(c)
        return total


def write_report(
    path: Path,
    *,
    summary: Summary,
    hits: Iterable[tuple[dict[str, Any], dict[str, Any]]],
    title: str = "Marketplace scan report",
    generated_at: str | None = None,
    max_hits: int = MAX_HITS,
) -> None:
    """``hits`` yields ``(finding, evidence)`` for listings with a match or review verdict, in feed
    order; the first ``max_hits`` are shown."""
    # A half-written report never replaces a good one, and nothing of a failed one is left behind.
    with written(path, "the report") as out:
        _head(out, title, generated_at or datetime.now(UTC).isoformat(timespec="seconds"))
        _summary(out, summary)
        _hits(out, summary, hits, max_hits)
        out.write("</body></html>\n")


def _hits(
    out: TextIO, summary: Summary, hits: Iterable[tuple[dict[str, Any], dict[str, Any]]], max_hits: int
) -> None:
    out.write("<h2>Hits</h2>\n")
    totals = summary.totals()
    found = totals["match"] + totals["review"]
    if found > max_hits:
        out.write(
            f'<p id="more">Showing the first {max_hits} of {found} hits, in feed order. Every hit is in '
            "the findings file, and every match has its case, with this evidence and a takedown notice."
            "</p>\n"
        )
    shown = 0
    for finding, evidence in islice(hits, max_hits):
        _hit(out, finding, evidence)
        shown += 1
    if not shown:
        out.write("<p>No listing matched a registered work.</p>\n")


def _head(out: TextIO, title: str, generated_at: str) -> None:
    out.write(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No scripts or remote loads: the file is safe to open from anywhere.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n<p class=meta>Generated {_e(generated_at)}</p>\n"
    )


def _summary(out: TextIO, summary: Summary) -> None:
    totals = summary.totals()
    out.write(
        f'<h2>Summary</h2>\n<p id="total">{sum(totals.values())} listings scanned: '
        + ", ".join(f"{totals[v]} {v}" for v in VERDICT_ORDER)
        + "</p>\n<table id=summary><thead><tr><th>Platform</th>"
        + "".join(f"<th>{v}</th>" for v in VERDICT_ORDER)
        + "<th>total</th></tr></thead><tbody>\n"
    )
    for platform in sorted(summary.counts):
        c = summary.counts[platform]
        cells = "".join(f"<td>{c[v]}</td>" for v in VERDICT_ORDER)
        out.write(f"<tr><td>{_e(platform)}</td>{cells}<td>{sum(c.values())}</td></tr>\n")
    cells = "".join(f"<td>{totals[v]}</td>" for v in VERDICT_ORDER)
    out.write(f"<tr><th>All</th>{cells}<td>{sum(totals.values())}</td></tr>\n</tbody></table>\n")


def _hit(out: TextIO, finding: dict[str, Any], evidence: dict[str, Any]) -> None:
    matches = finding.get("matches") or []
    if not matches:
        return
    best = matches[0]
    verdict = str(finding.get("verdict"))
    name = finding.get("title") or finding.get("listing_id")
    listing_url = finding.get("url")
    link = (
        f' · <a href="{_e(listing_url)}">{_e(_brief(listing_url))}</a>'
        if isinstance(listing_url, str)
        and listing_url.startswith(("http://", "https://"))
        and len(listing_url) <= _MAX_LINK
        and shown_controls(listing_url) == listing_url  # the escapes shown would not be the target
        else (f" · {_e(_brief(listing_url))}" if listing_url else "")
    )
    licensed = ' · <span class="lic">licensed</span>' if best.get("licensed") else ""
    out.write(
        f'<section class="hit"><h3>{_e(_brief(name))}</h3>\n'
        f'<p class=meta><span class="v-{_e(verdict)}">{_e(verdict)}</span> · '
        f"{_e(_brief(finding.get('platform')))} / {_e(_brief(finding.get('listing_id')))}"
        + (f" · seller {_e(_brief(finding['seller']))}" if finding.get("seller") else "")
        + f"{link}{licensed}</p>\n<div class=pair>"
    )
    query = evidence.get("query_thumb")
    if query:
        boxed = boxed_thumbnail(query, best.get("region"), evidence.get("query_size"))
        out.write(f'<figure><img alt="listing image" src="{data_uri(boxed)}"><figcaption>Listing image')
        out.write(" (matched region boxed)" if best.get("region") else "")
        out.write("</figcaption></figure>")
    work_thumb = (evidence.get("work_thumbs") or {}).get(str(best.get("work_id")))
    if work_thumb:
        out.write(f'<figure><img alt="registered work" src="{data_uri(work_thumb)}">')
    else:
        out.write("<figure>")
    out.write(
        f"<figcaption>Registered work “{_e(best.get('title'))}” by {_e(best.get('creator'))} "
        f"(work {_e(best.get('work_id'))}) · score {float(best.get('score', 0)):.3f} · {_e(best.get('kind'))}"
        "</figcaption></figure></div>"
    )
    if len(matches) > 1:
        others = ", ".join(f"{_e(m.get('title'))} ({float(m.get('score', 0)):.2f})" for m in matches[1:])
        out.write(f"<p class=meta>Also similar: {others}</p>")
    out.write("</section>\n")


# Listing text shown in a hit, and the longest address linked: a feed line may hold a megabyte, and
# 1,000 hits of such text made a page of a gigabyte (an audit: 20 hits of 300,000 characters, 25 MB).
_MAX_SHOWN = 300
_MAX_LINK = 2048


def _brief(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _e(value: Any) -> str:
    """Feed text as HTML text; bidirectional controls shown as escapes, since U+202E would display a
    listing's URL or title reversed (a spoofed link text)."""
    return shown_controls(html.escape("" if value is None else str(value)))
