"""Ground truth checked by eye, as DISC21 cleaned its own: pairs of images judged to share a drawing.

Openclipart holds many derivatives of one drawing: recoloured, with an element added or taken away,
or reused inside a larger picture. The corpus filters (``siblings.py``) drop the ones hashes can
see, and the rest surface as "false" matches. Each false ``match`` a method made was looked at side
by side and recorded in ``verified_pairs.csv`` with one of two verdicts:

- ``derivative``: one image is made from the other's drawing (what a registry should flag);
- ``different``: independent art that only looks alike (a real false match).

Scoring against the verified truth drops the predictions on ``derivative`` pairs: neither right nor
wrong, as DISC21 left out the reference images its annotators found to be copies. ``different`` and
unreviewed pairs stay false. The raw figures are always reported beside these.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from benchmarks import metrics
from benchmarks.corpus import Corpus
from benchmarks.queries import Query, hash_name

PAIRS = Path(__file__).resolve().parent / "verified_pairs.csv"
VERDICTS = ("derivative", "different")
COLUMNS = ["image", "matched_work", "verdict", "note"]


def load(path: Path = PAIRS) -> dict[frozenset[str], str]:
    """The reviewed pairs, as {image name, work name} -> verdict; unordered, since sharing a
    drawing is symmetric. A missing file is an empty review."""
    if not path.exists():
        return {}
    return {pair: verdict for _line, pair, verdict, _row in read_rows(path)}


def read_rows(path: Path) -> Iterator[tuple[int, frozenset[str], str, dict[str, str]]]:
    """(line number, pair, verdict, row) of each row of a pairs file or a filled review form;
    a missing column or a verdict other than ``VERDICTS`` is a ValueError naming the line."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        require_columns(path, reader.fieldnames)
        for line, row in enumerate(reader, start=2):
            verdict = (row.get("verdict") or "").strip()
            if verdict not in VERDICTS:
                raise ValueError(f"{path}:{line}: verdict must be one of {VERDICTS}, not {verdict!r}")
            yield line, frozenset((row["image"].strip(), row["matched_work"].strip())), verdict, row


def require_columns(path: Path, header: Sequence[str] | None) -> None:
    """A clear error for a file whose header lacks the pair and verdict columns."""
    missing = [c for c in COLUMNS if c not in (header or [])]
    if missing:
        raise ValueError(f"{path}: the header must name {', '.join(COLUMNS)}; missing {', '.join(missing)}")


def source_names(corpus: Corpus, queries: Iterable[Query]) -> dict[int, str]:
    """Query id -> name of the corpus image it was made from (its work, or the distractor)."""
    ref_names = {w.key: w.name for w in corpus.refs}
    # rendered as ``dis_<hash_name(name)>.<ext>``, or ``dis_<file stem>`` by ``benchmarks.photos``
    by_stem = {str(hash_name(w.name)): w.name for w in corpus.distractors}
    by_stem |= {Path(w.path).stem: w.name for w in corpus.distractors}
    out: dict[int, str] = {}
    for q in queries:
        if q.truth is not None:
            out[q.qid] = ref_names[q.truth]
        else:
            out[q.qid] = by_stem[Path(q.path).stem.removeprefix("dis_")]
    return out


def false_matches(
    preds: Iterable[metrics.Pred],
    queries: Iterable[Query],
    sources: Mapping[int, str],
    ref_names: Mapping[int, str],
    verdicts: Mapping[frozenset[str], str],
) -> list[dict]:
    """Every ``match`` naming a work other than the query's own, with its review verdict
    (``unreviewed`` when the pair is not in the file yet), highest score first."""
    by_id = {q.qid: q for q in queries}
    out = []
    for p in metrics.dedup(preds):  # each (query, work) once, best score first
        q = by_id.get(p.query)
        if q is None or not p.match or p.ref == q.truth:
            continue
        image, work = sources[p.query], ref_names[p.ref]
        out.append(
            {
                "query": f"{Path(q.path).parent.name}/{Path(q.path).name}",
                "transform": q.transform,
                "distractor": q.truth is None,
                "image": image,
                "matched_work": work,
                "score": round(p.score, 4),
                "verdict": verdicts.get(frozenset((image, work)), "unreviewed"),
            }
        )
    return out


def without_derivatives(
    preds: Iterable[metrics.Pred],
    sources: Mapping[int, str],
    ref_names: Mapping[int, str],
    verdicts: Mapping[frozenset[str], str],
) -> list[metrics.Pred]:
    """The predictions minus those pairing a query with a work its image was verified to share a
    drawing with. A query's own work is never dropped."""
    return [
        p
        for p in preds
        if verdicts.get(frozenset((sources[p.query], ref_names[p.ref]))) != "derivative"
        or sources[p.query] == ref_names[p.ref]
    ]
