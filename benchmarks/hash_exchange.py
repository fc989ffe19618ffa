"""Do the registry's exported PDQ hashes agree with what other tools compute?

`python -m benchmarks.hash_exchange [--seed 0] [--per-transform 200] [--out FILE]`

A platform that loads ``rights hashes export`` into its own matcher (HMA, a ThreatExchange bank)
hashes its uploads with ``pdqhash`` on the decoded file, as python-threatexchange's ``pdq_hasher``
does. This hashes the seed's registered works and their whole-image copies (the unseen edits that keep
the whole picture) that way, here called the partner's hash, and compares it with two exports:

* the exchange hash (``indexes.hash_exchange``, what ``rights hashes`` exports);
* the engine's own whole-image PDQ (first view, identity orientation), taken from a 256 px thumbnail,
  which is what a registry would export if it did not compute the hash apart.

It reports the bit distance between the partner's hash of each registered file and each export, and
for each edit how many copies' partner hashes fall within ThreatExchange's 31 bits of their work's
export. Transparent works are flattened on white before the partner hashes them. Prints Markdown and
writes ``benchmarks/results/hash_exchange.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image
from tqdm import tqdm

from benchmarks import report
from benchmarks.corpus import build_corpus
from benchmarks.queries import build_queries
from benchmarks.unseen import UNSEEN_SET

RESULTS = Path(__file__).resolve().parent / "results" / "hash_exchange.json"
# Edits that keep the whole picture in view (a hash list is for whole pictures).
WHOLE_PICTURE_EDITS = (
    "jpeg_q10",
    "sharpen",
    "saturate",
    "brightness",
    "opacity",
    "pixelate",
    "emoji",
    "stripes",
)
MATCH_BITS = 31


def partner_pdq(path: Path) -> int:
    """PDQ as python-threatexchange computes it, on the file flattened on white."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    bits, _ = pdqhash.compute(np.asarray(flat.convert("RGB")))
    return int("".join(str(int(b)) for b in bits), 2)


def _bits(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def run(seed: int, per_transform: int) -> dict:
    from indexes import ImageError, fingerprint
    from indexes.hash_exchange import exchange_pdq

    started = time.perf_counter()
    corpus = build_corpus(2000, 400, seed)
    exports: dict[int, tuple[int, int]] = {}  # key -> (exchange hash, engine view hash)
    to_exchange, to_engine = [], []
    for work in tqdm(corpus.refs, desc="works", file=sys.stderr, disable=not sys.stderr.isatty()):
        data = Path(work.path).read_bytes()
        try:
            fp = fingerprint(data, role="reference")
        except ImageError:
            continue
        if fp.low_information:
            continue  # never registered
        exports[work.key] = (int(exchange_pdq(data)[0], 16), int(bytes(fp.pdq[0, 0]).hex(), 16))
        partner = partner_pdq(Path(work.path))
        to_exchange.append(_bits(partner, exports[work.key][0]))
        to_engine.append(_bits(partner, exports[work.key][1]))
    queries = build_queries(corpus, per_transform, seed, UNSEEN_SET)
    edits: dict[str, dict[str, int]] = {}
    for q in tqdm(queries, desc="copies", file=sys.stderr, disable=not sys.stderr.isatty()):
        if q.truth not in exports or q.transform not in WHOLE_PICTURE_EDITS:
            continue
        partner = partner_pdq(Path(q.path))
        row = edits.setdefault(q.transform, {"copies": 0, "exchange": 0, "engine_view": 0})
        row["copies"] += 1
        row["exchange"] += _bits(partner, exports[q.truth][0]) <= MATCH_BITS
        row["engine_view"] += _bits(partner, exports[q.truth][1]) <= MATCH_BITS
    return {
        "config": {"seed": seed, "per_transform": per_transform},
        "works": len(to_exchange),
        "same_file_bits": {
            name: {
                "median": float(np.median(d)),
                "p95": float(np.percentile(d, 95)),
                "max": int(max(d)),
                "within_31": int(sum(x <= MATCH_BITS for x in d)),
            }
            for name, d in (("exchange", to_exchange), ("engine_view", to_engine))
        },
        "edits": edits,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def markdown(res: dict) -> str:
    same = res["same_file_bits"]
    lines = [
        f"### The same registered file, hashed by a partner ({res['works']} works, "
        f"seed {res['config']['seed']})",
        "",
        "| export | median bits | p95 | max | within 31 bits |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("exchange", "exchange hash (`rights hashes`)"),
        ("engine_view", "engine's thumbnail PDQ"),
    ):
        s = same[name]
        lines.append(f"| {label} | {s['median']:.0f} | {s['p95']:.0f} | {s['max']} | {s['within_31']} |")
    lines += [
        "",
        "### Whole-picture copies hashed by a partner, within 31 bits of their work's export",
        "",
        "| edit | copies | exchange hash | engine's thumbnail PDQ | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for edit, row in sorted(res["edits"].items()):
        ratio = row["exchange"] / max(1, row["engine_view"])
        lines.append(
            f"| {edit} | {row['copies']} | {row['exchange']} | {row['engine_view']} | {ratio:.2f}× |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return report.seeded_main(
        argv, name="hash_exchange", doc=__doc__, results=RESULTS, run=run, render=markdown
    )


if __name__ == "__main__":
    raise SystemExit(main())
