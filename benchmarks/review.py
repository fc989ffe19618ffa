"""Contact sheets of the false matches nobody has reviewed yet, and a form to record the verdicts.

    python -m benchmarks.review sheets RESULTS.json [RESULTS.json ...] --out DIR
    python -m benchmarks.review record DIR/pending.csv

``sheets`` collects every false ``match`` of every method in the given results files whose pair is
not in ``verified_pairs.csv`` yet, draws them 12 to a sheet (``sheet00.png``, ...: the image the
query was made from on the left, the work it named on the right, both flattened on white, with
the pair's number and the methods that matched it) and writes ``pending.csv`` in the same order,
verdicts blank. Look at the sheets, fill in each row's ``verdict`` (``derivative`` or
``different``, as ``verified.py`` defines them) and ``note``, then ``record`` checks the form and
appends it to ``verified_pairs.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from benchmarks import imaging, verified
from benchmarks.corpus import norm_path

TILE = 190
PER_SHEET = 12  # 3 pairs across, 4 down: small enough to judge each pair by eye
FORM_COLUMNS = [*verified.COLUMNS, "found_by"]


def pending(results: list[Path], reviewed: dict[frozenset[str], str]) -> list[dict]:
    """The unreviewed false-match pairs of the results files, once each, sorted by name."""
    pairs: dict[frozenset[str], dict] = {}
    for path in results:
        data = json.loads(path.read_text())
        if not all("false_matches" in entry for entry in data["methods"].values()):
            raise ValueError(
                f"{path} lists no false matches: it was written before they were; run the benchmark again"
            )
        for method, entry in data["methods"].items():
            for fm in entry.get("false_matches", []):
                key = frozenset((fm["image"], fm["matched_work"]))
                if key in reviewed:
                    continue
                row = pairs.setdefault(
                    key, {"image": fm["image"], "matched_work": fm["matched_work"], "by": set()}
                )
                row["by"].add(f"{method}:{path.stem}")
    return sorted(
        ({**p, "by": sorted(p["by"])} for p in pairs.values()), key=lambda p: (p["image"], p["matched_work"])
    )


def _thumb(name: str) -> Image.Image:
    img = imaging.flatten(imaging.load_path(norm_path(name)))
    img.thumbnail((TILE, TILE))
    return img


def draw_sheets(rows: list[dict], out: Path) -> list[Path]:
    """One PNG per ``PER_SHEET`` pairs, numbered as the rows are."""
    sheets = []
    for first in range(0, len(rows), PER_SHEET):
        sheet = Image.new("RGB", (3 * 2 * (TILE + 10), 4 * (TILE + 25)), "black")
        for i, row in enumerate(rows[first : first + PER_SHEET]):
            x, y = (i % 3) * 2 * (TILE + 10), (i // 3) * (TILE + 25)
            cell = Image.new("RGB", (2 * (TILE + 10), TILE + 25), (90, 90, 90))
            cell.paste(_thumb(row["image"]), (0, 0))
            cell.paste(_thumb(row["matched_work"]), (TILE + 15, 0))
            label = f"#{first + i} {','.join(row['by'])}"[:64]
            ImageDraw.Draw(cell).text((2, TILE + 8), label, fill="yellow")
            sheet.paste(cell, (x, y))
        path = out / f"sheet{first // PER_SHEET:02d}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets


def write_form(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FORM_COLUMNS)
        for row in rows:
            writer.writerow([row["image"], row["matched_work"], "", "", " ".join(row["by"])])


def record(form: Path, pairs: Path = verified.PAIRS) -> int:
    """Append a filled form to the reviewed pairs; refuses the whole form if a row is incomplete
    or already reviewed, so a half-filled form never half lands. Returns the rows appended."""
    reviewed = verified.load(pairs)
    rows = []
    for line, pair, verdict, row in verified.read_rows(form):
        if not (row.get("note") or "").strip():
            raise ValueError(f"{form}:{line}: say in the note why (what is shared, or what differs)")
        if pair in reviewed:
            raise ValueError(f"{form}:{line}: {row['image']} / {row['matched_work']} is already reviewed")
        reviewed[pair] = verdict
        rows.append([row["image"].strip(), row["matched_work"].strip(), verdict, row["note"].strip()])
    new_file = not pairs.exists()
    with pairs.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if new_file:
            writer.writerow(verified.COLUMNS)
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.review", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("sheets", help="contact sheets and a blank form for the unreviewed false matches")
    make.add_argument(
        "results", type=Path, nargs="+", help="results JSON of benchmarks detection/unseen/photos"
    )
    make.add_argument("--out", type=Path, required=True, help="folder for the sheets and pending.csv")
    rec = sub.add_parser("record", help="append a filled form to benchmarks/verified_pairs.csv")
    rec.add_argument("form", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "record":
            print(f"{record(args.form)} pairs recorded in {verified.PAIRS}")
            return 0
        rows = pending(args.results, verified.load())
        args.out.mkdir(parents=True, exist_ok=True)
        sheets = draw_sheets(rows, args.out)
        write_form(rows, args.out / "pending.csv")
    except (OSError, ValueError, KeyError) as exc:
        print(f"benchmarks.review: {exc}", file=sys.stderr)
        return 2
    print(f"{len(rows)} unreviewed pairs on {len(sheets)} sheets; fill in {args.out / 'pending.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
