"""PDQ hashes as industry tools compute and write them, so hash lists can travel between this registry
and others.

Meta's ThreatExchange tools (python-threatexchange, HMA) hash the image's own pixels with ``pdqhash``
and write the 256 bits as 64 lowercase hex digits, most significant first; their plain signal files
hold one ``pdq <hex>`` per line. The engine's whole-image PDQ is taken from a 256 px thumbnail
(``global_hashes.thumbnail``), which suits its own search but lands a median 20 bits (up to 64) from
what those tools compute for the same file, most of PDQ's 31-bit match distance. The exchange hash is
therefore computed apart, their way: on the pixels as stored (not turned by EXIF orientation), decoded
at up to ``EXCHANGE_SIDE``. It equals theirs for images up to that size (all 1,997 works of the
benchmark's seed 0) and lands a few bits away for larger ones (2-6 bits on 1,500-3,000 px images).
"""

from __future__ import annotations

import re

import numpy as np
import pdqhash

from indexes import global_hashes
from indexes.decode import decode_image

PDQ_HEX_DIGITS = global_hashes.PDQ_BYTES * 2
_HEX = re.compile(rf"[0-9a-fA-F]{{{PDQ_HEX_DIGITS}}}")
# ThreatExchange's confident-match distance for PDQ (``pdq_utils.PDQ_CONFIDENT_MATCH_THRESHOLD``).
PDQ_EXCHANGE_DISTANCE = 31
# Pixels hashed: PDQ filters any size down to 64 x 64 itself, so a larger decode changes few bits and
# bounds the time and memory a 15,000 px original would take (JPEGs decode at a DCT scale near it).
EXCHANGE_SIDE = 1024


def exchange_pdq(data: bytes) -> tuple[str, int]:
    """The PDQ of an image file as ThreatExchange tools compute it (transparent images flattened on
    white), in their hex form, and its quality (0-100). Raises ``indexes.ImageError`` on bad input."""
    # Not turned by EXIF: python-threatexchange hashes the pixels as stored.
    rgb = decode_image(data, max_side=EXCHANGE_SIDE, orient=False).rgb
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return bytes(np.packbits(bits.astype(np.uint8))).hex(), int(quality)


def parse_pdq_hex(text: str) -> np.ndarray:
    """32 bytes from 64 hex digits (either case); ValueError naming what is wrong otherwise."""
    text = text.strip()
    if not _HEX.fullmatch(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"a PDQ hash is {PDQ_HEX_DIGITS} hex digits, not {shown!r}")
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).copy()


def is_degenerate(packed: np.ndarray) -> bool:
    """Whether the hash is of a flat or regular image (``global_hashes.degenerate``): near too many
    unrelated pictures to name one, so the engine neither indexes nor searches such hashes."""
    return bool(global_hashes.degenerate(packed.reshape(1, global_hashes.PDQ_BYTES))[0])


def nearest(
    table: np.ndarray, queries: np.ndarray, max_distance: int, limit: int
) -> list[list[tuple[int, int]]]:
    """For each query hash, (row of ``table``, distance) of the rows within ``max_distance`` bits,
    nearest first, at most ``limit``: an exact scan (a million hashes are 32 MB)."""
    import faiss

    found: list[list[tuple[int, int]]] = [[] for _ in range(len(queries))]
    if not len(table) or not len(queries):
        return found
    index = faiss.IndexBinaryFlat(global_hashes.PDQ_BYTES * 8)
    index.add(np.ascontiguousarray(table, dtype=np.uint8))
    distances, rows = index.search(np.ascontiguousarray(queries, dtype=np.uint8), min(limit, len(table)))
    for i, (ds, rs) in enumerate(zip(distances.tolist(), rows.tolist(), strict=True)):
        found[i] = [(r, d) for d, r in zip(ds, rs, strict=True) if r >= 0 and d <= max_distance]
    return found
