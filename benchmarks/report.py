"""Render detection results (the JSON dict) as Markdown tables."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

BASELINES = ("phash", "pdq8")


def _f(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return "–" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}×"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _summary_row(name: str, s: dict, families: list[str]) -> list[str]:
    return [
        name,
        _f(s["micro_ap"]),
        _f(s.get("micro_ap_shown")),
        _f(s["recall_at_p90"]),
        _f(s["distractor_fp_rate"]),
        _precision_cell(s),
        _f(s["recall_at_match"]),
        *(_f(s["family_recall"].get(f)) for f in families),
    ]


def _precision_cell(s: dict) -> str:
    """Precision at `match` with its 95 % interval and false count, when the results hold them."""
    cell = _f(s["precision_at_match"])
    ci, counts = s.get("precision_at_match_ci95"), s.get("matches")
    if ci and counts and counts[1]:
        cell += f" [{_f(ci[0])}, {_f(ci[1])}; {counts[1] - counts[0]} of {counts[1]} false]"
    return cell


def _verified_section(methods: dict) -> list[str]:
    """Raw figures beside those against the ground truth checked by eye (``verified.py``)."""
    if not all("verified" in m for m in methods.values()):
        return []  # results written before the review existed
    rows = []
    for name, m in methods.items():
        raw, ver = m["overall"], m["verified"]
        counts = {v: 0 for v in ("derivative", "different", "unreviewed")}
        for fm in m["false_matches"]:
            counts[fm["verdict"]] += 1
        rows.append(
            [name, " / ".join(str(n) for n in counts.values()),
             f"{_f(raw['micro_ap'])} → {_f(ver['micro_ap'])}",
             f"{_f(raw['precision_at_match'])} → {_precision_cell(ver)}",
             f"{_f(raw['distractor_fp_rate'])} → {_f(ver['distractor_fp_rate'])}",
             f"{_f(raw['recall_at_match'])} → {_f(ver['recall_at_match'])}"]
        )  # fmt: skip
    header = ["method", "false `match`es: derivative / different / unreviewed", "µAP", "P@match",
              "FP distractors", "R@match"]  # fmt: skip
    return [
        "### Against the verified ground truth (raw → without pairs verified to share a drawing)",
        "",
        _table(header, rows),
        "",
    ]


def seeded_main(
    argv: list[str] | None,
    *,
    name: str,
    doc: str,
    results: Path,
    run: Callable[[int, int], dict],
    render: Callable[[dict], str],
) -> int:
    """The command line of a benchmark run per seed (``--seed``, ``--per-transform``, ``--out``):
    run it, write its results as JSON, print their Markdown and, on stderr, the wall time."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-transform", type=int, default=200)
    parser.add_argument("--out", type=Path, default=results, help="JSON results path")
    args = parser.parse_args(argv)
    res = run(args.seed, args.per_transform)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(render(res))
    print(f"\n[{name}] {res['wall_s']} s; results in {args.out}", file=sys.stderr)
    return 0


def transform_set_main(
    argv: list[str] | None,
    *,
    name: str,
    doc: str,
    run: Callable[[int, bool], dict],
    results: Path,
    unseen_results: Path,
    title: str,
) -> int:
    """The command line of a corpus measured beside a seed's works under the issue's transforms
    or, with ``--unseen``, the unseen edits (``--seed``, ``--unseen``, ``--out``): run it, write its
    results as JSON and print their Markdown."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the detection corpus registered too")
    parser.add_argument("--unseen", action="store_true", help="the 16 edits of benchmarks.unseen")
    parser.add_argument(
        "--out", type=Path, help=f"JSON results (default {results.name}; {unseen_results.name} with --unseen)"
    )
    args = parser.parse_args(argv)
    res = run(args.seed, args.unseen)
    out = args.out or (unseen_results if args.unseen else results)
    save_and_print(res, out, title=title + (", unseen edits" if args.unseen else ""))
    return 0


def save_and_print(res: dict, out: Path, title: str = "Detection benchmark") -> None:
    """Write the results as JSON to ``out`` and print their Markdown report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=float))
    print(markdown(res, title))


def markdown(res: dict, title: str = "Detection benchmark") -> str:
    methods: dict = res["methods"]
    families: list[str] = res["families"]
    cfg, corp = res["config"], res["corpus"]
    photos = cfg.get("photos", "photo tiles")
    out = [
        f"## {title}",
        "",
        f"Refs: {corp['refs']['clipart']} clip art + {corp['refs']['photo']} {photos} "
        f"({corp['transparent_refs']} transparent); distractors: {corp['distractors']['clipart']} clip art + "
        f"{corp['distractors']['photo']} photo; {cfg['per_transform']} refs queried under each of "
        f"{len(res['transforms'])} transforms; seed {cfg['seed']}.",
        "",
    ]
    if not res["engine_available"]:
        out += [f"engine: not available ({res['engine_unavailable_reason']})", ""]

    # "µAP shown": over the `match` and `review` results only, without the engine's weaker
    # candidates (the baselines have no such split).
    header = ["method", "µAP", "µAP shown", "R@P90", "FP distractors", "P@match", "R@match", *families]
    base = {b: methods[b]["overall"] for b in BASELINES if b in methods}
    rows = []
    for name, m in methods.items():
        s = m["overall"]
        row = _summary_row(name, s, families)
        row += [_ratio(s["micro_ap"], base[b]["micro_ap"]) for b in base]
        row += [_ratio(s["recall_at_p90"], base[b]["recall_at_p90"]) for b in base]
        rows.append(row)
    out += ["### All queries", ""]
    out += [_table(header + [f"µAP vs {b}" for b in base] + [f"R@P90 vs {b}" for b in base], rows), ""]

    out += _verified_section(methods)

    for corpus in ("clipart", "photo"):
        if not any(m["by_corpus"][corpus]["queries"] for m in methods.values()):
            continue  # e.g. ``benchmarks.photos``, whose queries are all photographs
        rows = [_summary_row(n, m["by_corpus"][corpus], families) for n, m in methods.items()]
        n_q = next(iter(methods.values()))["by_corpus"][corpus]["queries"] if methods else 0
        out += [f"### {corpus} queries ({n_q})", "", _table(header, rows), ""]

    out += [
        "### Recall per transform at each method's match operating point: all (clipart/photo); "
        "`any` = true ref anywhere in the returned list",
        "",
    ]
    rows = []
    for t in res["transforms"]:
        row = [t]
        for m in methods.values():
            cells = [m["overall"]["transform_recall"].get(t)]
            cells += [m["by_corpus"][c]["transform_recall"].get(t) for c in ("clipart", "photo")]
            anyr = m["overall"].get("transform_recall_any", {}).get(t)
            row.append(f"{_f(cells[0], 2)} ({_f(cells[1], 2)}/{_f(cells[2], 2)}) any {_f(anyr, 2)}")
        rows.append(row)
    out += [_table(["transform", *methods], rows), ""]

    out += ["### Query latency (ms; index of all refs, 2 shared CPU cores)", ""]
    rows = []
    for name, m in methods.items():
        ex, inc = m["latency_excl_hash"], m["latency_incl_hash"]
        rows.append(
            [name, _f(ex["p50_ms"], 2), _f(ex["p99_ms"], 2), _f(inc["p50_ms"], 1), _f(inc["p99_ms"], 1),
             _f(m["hash_total_s"], 1), _f(m["search_total_s"], 1), _f(m["build_s"], 1)]
        )  # fmt: skip
    header = ["method", "search p50", "search p99", "hash+search p50", "hash+search p99",
              "Σ hash s", "Σ search s", "build s"]  # fmt: skip
    out += [_table(header, rows), ""]

    tp = res.get("throughput_images_per_s", {})
    if tp:
        out += [
            f"### Hashing throughput, images/s on {cfg['throughput_images']} ~1 MP JPEGs (decode included)",
            "",
            _table(["what", "images/s"], [[k, _f(v, 1)] for k, v in tp.items()]),
            "",
        ]

    notes = []
    for name, m in methods.items():
        if m.get("weak_search_inconsistent"):
            notes.append(
                f"- {name}: {m['weak_search_inconsistent']} queries whose `match`/`review` results "
                "changed when the candidates below `review` were asked for"
            )
        if m["query_error_count"] or m["build_error_count"] or m["fingerprint_error_count"]:
            notes.append(
                f"- {name}: {m['build_error_count']} ref build errors, {m['fingerprint_error_count']} query "
                f"fingerprint errors, {m['query_error_count']} query crashes "
                f"{(m['query_errors'] or m['build_errors'])[:3]}"
            )
    if notes:
        out += ["### Errors", "", *notes, ""]
    out.append(f"Wall time: {res.get('wall_s', 0):.0f} s")
    return "\n".join(out)
