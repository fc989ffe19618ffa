"""One decode -> every signal the engine needs, in one immutable value.

A fingerprint is what the registry stores (the FAISS indexes are rebuilt from it), so it
serialises to compact bytes and has a stable digest for the transparency log.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from indexes import copy_embedding, geometry, global_hashes, lightness_map, local_features, quality
from indexes.appearance import EMPTY as _NO_APPEARANCE
from indexes.appearance import signature as appearance_signature
from indexes.content_box import background_to_white, content_box
from indexes.cpu import one_blas_thread
from indexes.decode import DecodedImage, decode_image, read_image_file, recomposite
from indexes.local_features import LocalFeatures
from indexes.page_items import DeferredItems, page_items
from indexes.panels import panels
from indexes.salient_region import salient_region

# Working resolution. Works are indexed at 640 px; queries are read at up to 1024 px because
# a copy often shows the work smaller than the whole query (a listing page, a frame): ORB's
# pyramid only goes *down* from the input, so the query must start at the larger scale.
# Smaller images are upscaled to 640 px so both sides meet within the pyramid's range.
# Measured on the dev set: screenshot inliers roughly doubled going from 640 to 1024 px.
REFERENCE_SIDE = 640
QUERY_SIDE = 1024
MIN_SIDE = 640
# Smaller queries are enlarged to the references' 640 px, so a whole copy of a small work meets
# its reference on the same pixel grid. 768 (one ORB pyramid step further) was chosen while it
# alone found the demo's T-shirt mock-ups; the salient region and page items find them now, and
# 640 costs 20 % less a query (the scan benchmark's 480 px listings: 21.0 against 26.2 ms) for
# the same accuracy (replays, 768 -> 640: seed 0 true `match`es 3,752 -> 3,744, seed 3
# 3,732 -> 3,741, the unseen edits 2,589 -> 2,619; false ones 32 -> 33, 48 -> 53, 15 -> 17;
# BENCHMARKS.md, thirty-first session).
QUERY_MIN_SIDE = 640
# Short sides kept for long, narrow images (``decode.long_side_for``): past ~4:1 for works and
# ~2.7:1 for queries, the long side grows (to 4x at most) rather than the short one shrink. A
# work in an 800 x 6,000 strip of other art was 136 px wide at 1024 and not found (an audit).
REFERENCE_MIN_SHORT = 160
QUERY_MIN_SHORT = 384
# Items cut from a page (``indexes.page_items``) are enlarged less: a 96 px product thumbnail at
# 384 px was found as often as at 768 (111 and 111 of 120 generated product grids) in half the time.
# A product photo's salient region (``indexes.salient_region``) is enlarged like a whole query: of
# 90 mock-ups the page missed, 34 found at 768 (the query size then) against 25 at 384 (BENCHMARKS.md).
ITEM_MIN_SIDE = 384
# Descriptor budgets. Queries scale theirs with area (~1000 at 1024x1024).
REFERENCE_FEATURES = 256
# Transparent works: extra descriptors of silhouette keypoints over darker backgrounds, so
# copies flattened onto black, red or blue still match (white is the main set).
SILHOUETTE_FEATURES = 128
# Black, and the mid-dark grey of red/blue/green garments and page backgrounds.
SILHOUETTE_BACKGROUNDS = ((0, 0, 0), (96, 96, 96))
QUERY_FEATURES_PER_MPX = 1000
MIRROR_SHARE = 0.4
# Revision of how the signals are computed, so a registry can tell which stored fingerprints an
# upgrade would compute differently (``rights refingerprint``). 1: before the appearance signature;
# 2: with it; 3: FAST threshold scaled to the upscale factor; 4: grey and RGB PNGs transparent by a
# key colour (tRNS) decoded with their transparency, and works of flat bands refused (only those
# change); 5: works carry the learned copy descriptor (``indexes.copy_embedding``); 6: and the
# descriptors of five crops of the work (``copy_embedding.embed_work``); 7: and its lightness map
# (``indexes.lightness_map``). Bump it with any change that alters the fingerprint of an image.
# Stored from 3 on; older ones are told apart by their fields.
METHOD = 7
_FIRST_STORED_METHOD = 3
_MAGIC = b"RFP1"
_NO_REGIONS = np.zeros((0, global_hashes.PDQ_BYTES), np.uint8)
_NO_PHASH = np.zeros(0, np.uint8)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """All signals of one image. Arrays are read-only; equality compares content."""

    sha256: str
    size: tuple[int, int]  # original (width, height) after EXIF orientation
    working_size: tuple[int, int]  # (width, height) of the pixels the features were taken from
    pdq: np.ndarray  # (views, 8, 32) uint8: dihedral PDQ of each view (full, [dark bg], [content box])
    pdq_quality: int
    regions: np.ndarray  # (r, 32) uint8: PDQ of sub-regions of a work (crops); empty for queries
    phash: np.ndarray  # (8,) uint8 for registered works (exchange, corroboration); empty for queries
    local: LocalFeatures
    mirrored: LocalFeatures  # features of the horizontally flipped image, in flipped coordinates
    edge_density: float
    low_information_reason: str | None = None
    # ``indexes.appearance`` signature, (255,) int8; empty in fingerprints made before it existed.
    appearance: np.ndarray = field(default_factory=lambda: _NO_APPEARANCE)
    # ``indexes.copy_embedding`` descriptor, (128,) int8: registered works only (a query's is made
    # from its thumbnail when a search needs it); empty in fingerprints made before it existed.
    embedding: np.ndarray = field(default_factory=lambda: copy_embedding.EMPTY)
    # ``copy_embedding.embed_work``: (``VIEWS``, 128) int8 descriptors of crops of a registered
    # work; (0, 128) for queries and fingerprints made before them.
    views: np.ndarray = field(default_factory=lambda: copy_embedding.NO_VIEWS)
    # ``indexes.lightness_map``: (``MAP_BYTES``,) uint8 for registered works; empty for queries
    # and fingerprints made before it.
    lightness: np.ndarray = field(default_factory=lambda: lightness_map.EMPTY)
    # The 256 px RGB the hashes came from, so a search can re-hash the region where a work
    # was placed (``indexes.alignment``). Fresh fingerprints only: not serialised, not compared.
    thumbnail: np.ndarray | None = field(default=None, repr=False, compare=False)
    method: int = METHOD  # the ``METHOD`` revision that computed it
    # Queries only: (x, y, w, h) in original pixels of each image panel (``indexes.panels``) whose
    # PDQ are the last ``len(panels)`` views of ``pdq`` (a panel on a colour twice: whitened too).
    panels: tuple[tuple[int, int, int, int], ...] = ()
    # Queries only: each item laid out on the query's page (``indexes.page_items``), as its box in
    # original pixels and its own fingerprint (computed on first use), searched when the page
    # matched nothing. Fresh fingerprints only, like ``thumbnail``: not serialised, not compared.
    items: DeferredItems | tuple[()] = field(default=(), repr=False, compare=False)
    # Queries only: cut from a page as one of its items, not an upload as a whole. Not serialised.
    page_item: bool = field(default=False, compare=False)
    # Not an init field, so `dataclasses.replace` starts a changed copy with an empty cache.
    _digest: list[str] = field(default_factory=list, init=False, repr=False, compare=False)
    _descriptor: list[np.ndarray] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def low_information(self) -> bool:
        return self.low_information_reason is not None

    @property
    def whole_image_only(self) -> bool:
        """Too small for the gate, but not blank: as a query, a downscaled whole copy whose
        whole-image hash may still name a work (``quality.identifiable_as_whole``)."""
        return quality.identifiable_as_whole(self.size, self.edge_density)

    @property
    def outdated(self) -> bool:
        """Computed by an older revision (``METHOD``), or missing a signal the engine now uses:
        fingerprinting the image again would give other signals, that find its copies more often."""
        return self.method < METHOD or len(self.appearance) == 0

    @property
    def information(self) -> float:
        return quality.information_score(self.size, self.edge_density, len(self.local), self.pdq_quality)

    @property
    def scale(self) -> float:
        """Original pixels per working pixel."""
        return self.size[0] / max(1, self.working_size[0])

    def copy_descriptor(self) -> np.ndarray:
        """The ``copy_embedding`` descriptor: a registered work's own, or a query's, made from its
        thumbnail once however many search steps ask (needs ``thumbnail``)."""
        if len(self.embedding):
            return self.embedding
        if not self._descriptor:
            assert self.thumbnail is not None, "a query's descriptor needs its thumbnail"
            self._descriptor.append(copy_embedding.embed(self.thumbnail))
        return self._descriptor[0]

    def digest(self) -> str:
        """SHA-256 of the serialised fingerprint (goes into the transparency log)."""
        if not self._digest:
            self._digest.append(hashlib.sha256(self.to_bytes()).hexdigest())
        return self._digest[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.digest())

    def to_bytes(self) -> bytes:
        header = {
            "sha256": self.sha256,
            "size": list(self.size),
            "working_size": list(self.working_size),
            "pdq_quality": self.pdq_quality,
            "edge_density": round(self.edge_density, 6),
            "low": self.low_information_reason,
            "pdq_views": int(self.pdq.shape[0]),
            "regions": int(self.regions.shape[0]),
            "local": len(self.local),
            "mirrored": len(self.mirrored),
        }
        if len(self.appearance):
            # Only when present, so fingerprints made before it keep their bytes and digest.
            header["appearance"] = len(self.appearance)
        if len(self.embedding):
            header["embedding"] = len(self.embedding)  # likewise
        if len(self.views):
            header["views"] = len(self.views)  # likewise
        if len(self.lightness):
            header["lightness"] = len(self.lightness)  # likewise
        if self.method >= _FIRST_STORED_METHOD:
            header["method"] = self.method  # older fingerprints keep their bytes and digest
        if len(self.phash) != global_hashes.PHASH_BYTES:
            header["phash"] = len(self.phash)  # a query's: none (registered works' bytes unchanged)
        if self.panels:
            header["panels"] = [list(b) for b in self.panels]  # a query's only
        head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        buf = io.BytesIO()
        buf.write(_MAGIC + struct.pack("<I", len(head)) + head)
        for arr in (
            self.pdq,
            self.regions,
            self.phash,
            self.local.points,
            self.local.descriptors,
            self.mirrored.points,
            self.mirrored.descriptors,
            self.appearance,
            self.embedding,
            self.views,
            self.lightness,
        ):
            buf.write(np.ascontiguousarray(arr).tobytes())
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """The fingerprint ``to_bytes`` wrote; ``ValueError`` for anything else (cut short, or a header
        damaged: these raised struct.error, KeyError or IndexError, which callers did not expect)."""
        if data[:4] != _MAGIC:
            raise ValueError("not a serialised fingerprint (bad magic)")
        try:
            return cls._from_bytes(data)
        except (struct.error, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"serialised fingerprint is damaged ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _from_bytes(cls, data: bytes) -> Fingerprint:
        (n,) = struct.unpack("<I", data[4:8])
        h = json.loads(data[8 : 8 + n])
        reader = _Reader(data, 8 + n)
        pdq = reader.take(np.uint8, (h["pdq_views"], 8, global_hashes.PDQ_BYTES))
        regions = reader.take(np.uint8, (h["regions"], global_hashes.PDQ_BYTES))
        ph = reader.take(np.uint8, (h.get("phash", global_hashes.PHASH_BYTES),))
        lp = reader.take(np.float32, (h["local"], 2))
        ld = reader.take(np.uint8, (h["local"], local_features.DESCRIPTOR_BYTES))
        mp = reader.take(np.float32, (h["mirrored"], 2))
        md = reader.take(np.uint8, (h["mirrored"], local_features.DESCRIPTOR_BYTES))
        sig = reader.take(np.int8, (h.get("appearance", 0),))
        embedding = reader.take(np.int8, (h.get("embedding", 0),))
        views = reader.take(np.int8, (h.get("views", 0), copy_embedding.DIMENSIONS))
        lightness = reader.take(np.uint8, (h.get("lightness", 0),))
        if reader.offset != len(data):
            raise ValueError("serialised fingerprint has trailing bytes")
        return cls(
            sha256=h["sha256"],
            size=(int(h["size"][0]), int(h["size"][1])),
            working_size=(int(h["working_size"][0]), int(h["working_size"][1])),
            pdq=pdq,
            pdq_quality=int(h["pdq_quality"]),
            regions=regions,
            phash=ph,
            local=LocalFeatures(lp, ld),
            mirrored=LocalFeatures(mp, md),
            edge_density=float(h["edge_density"]),
            low_information_reason=h["low"],
            appearance=sig,
            embedding=embedding,
            views=views,
            lightness=lightness,
            method=int(h.get("method", 2 if len(sig) else 1)),
            panels=tuple((int(x), int(y), int(w), int(w_h)) for x, y, w, w_h in h.get("panels", [])),
        )


def _silhouette(alpha: np.ndarray) -> np.ndarray:
    """Pixels within an ORB patch radius of the opaque/transparent boundary."""
    kernel = np.ones((31, 31), np.uint8)
    opaque = (alpha >= 128).astype(np.uint8)
    return (cv2.dilate(opaque, kernel) > 0) & (cv2.dilate(1 - opaque, kernel) > 0)


def _at_working_size(decoded: DecodedImage, side: int = MIN_SIDE) -> DecodedImage:
    """Upscale small images so every query and work meets ORB's pyramid in the same range."""
    h, w = decoded.rgb.shape[:2]
    if max(h, w) >= side:
        return decoded
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    rgb = cv2.resize(decoded.rgb, size, interpolation=cv2.INTER_LINEAR)
    alpha = None if decoded.alpha is None else cv2.resize(decoded.alpha, size, interpolation=cv2.INTER_LINEAR)
    return DecodedImage(rgb, alpha, decoded.original_size, decoded.format)


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data, self.offset = data, offset

    def take(self, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        if min(shape) < 0:  # frombuffer would read "the rest" for a count of -1
            raise ValueError(f"serialised fingerprint has a negative count: {shape}")
        count = math.prod(shape)  # np.prod costs ~10 us a call: half of from_bytes at startup
        arr: np.ndarray = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset).reshape(
            shape
        )
        self.offset += arr.nbytes
        return arr


def one_image_thread() -> None:
    """Pin OpenCV and numpy's BLAS to one thread in this process. Where parallelism comes from
    concurrent requests or worker processes, OpenCV also splitting each resize and blur across every
    core oversubscribes them: two fingerprinting processes went from 35.6-37.1 to 39.3-39.9 images/s
    (BLAS: ``cpu.one_blas_thread``)."""
    cv2.setNumThreads(1)
    one_blas_thread()


def fingerprint(source: bytes | str | Path, *, role: str = "query") -> Fingerprint:
    """Decode once and compute every signal. Raises ``indexes.ImageError`` on bad input.

    ``role="reference"`` is for registering a work: 640 px, 256 features, no mirrored set
    (smaller to store and index). ``role="query"`` is for looking up an upload: up to 1024 px,
    ~1000 features plus features of the mirrored image, no pHash. Either kind can be searched.
    """
    if role not in ("query", "reference"):
        raise ValueError(f"role must be 'query' or 'reference', not {role!r}")
    data = read_image_file(source) if isinstance(source, (str, Path)) else bytes(source)
    if role == "query":
        decoded = decode_image(data, max_side=QUERY_SIDE, min_short=QUERY_MIN_SHORT)
    else:
        decoded = decode_image(data, max_side=REFERENCE_SIDE, min_short=REFERENCE_MIN_SHORT)
    return fingerprint_decoded(decoded, hashlib.sha256(data).hexdigest(), role=role)


def fingerprint_decoded(decoded: DecodedImage, sha256: str, *, role: str = "query") -> Fingerprint:
    """Every signal of an already decoded image (``fingerprint`` decodes, then calls this)."""
    return _fingerprint_decoded(decoded, sha256, role=role, min_side=QUERY_MIN_SIDE, whole_page=True)


def _fingerprint_decoded(
    decoded: DecodedImage, sha256: str, *, role: str, min_side: int, whole_page: bool
) -> Fingerprint:
    # Whole-image hashes, frame detection and the quality gate all work on a 256 px copy,
    # taken before any upscaling (shrinking the upscaled pixels cost ~3 ms a query).
    small = global_hashes.thumbnail(decoded.rgb)
    # Edges are judged on pixels never enlarged: upscaling softens every gradient, and the
    # gate's Sobel level would call a sharp 96 px photo blank.
    edge_source = small if max(decoded.rgb.shape[:2]) > max(small.shape[:2]) else decoded.rgb
    small_alpha = None
    if decoded.alpha is not None:
        small_alpha = cv2.resize(
            decoded.alpha, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA
        )
    native_side = max(decoded.rgb.shape[:2])
    page = decoded
    decoded = _at_working_size(decoded, min_side if role == "query" else MIN_SIDE)
    rgb = decoded.rgb
    upscale = max(rgb.shape[:2]) / native_side
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    views = [small]
    if small_alpha is not None:
        # Transparent art is often re-uploaded flattened onto black rather than white.
        views.append(recomposite(small, small_alpha, (0, 0, 0)))
    box = content_box(small, small_alpha)
    if box is not None:
        x, y, w, h = box
        views.append(small[y : y + h, x : x + w])
    panel_boxes: list[tuple[int, int, int, int]] = []
    if role == "query" and small_alpha is None and min(decoded.original_size) >= quality.MIN_SIDE_PX:
        # A transparent work flattened onto a colour, hashed as if flattened onto white. Not for
        # queries under 32 px, which match on PDQ alone at a looser distance: on the unseen edits a
        # whitened 28 px photo crop (PDQ quality 6) was within it of an unrelated drawing.
        whitened = background_to_white(small)
        if whitened is not None:
            views.append(whitened)
    if role == "query" and whole_page:
        # A listing page's artwork panel, hashed as a view of its own (``indexes.panels``). Not in
        # an item cut from a page: a picture, not a page (seeds 0-2: the same `match`es without).
        to_original = decoded.original_size[0] / small.shape[1]
        for x, y, w, h in panels(small):
            if box is not None and _overlap(box, (x, y, w, h)) > 0.9:
                continue  # the content box already hashed it
            in_page = tuple(round(v * to_original) for v in (x, y, w, h))
            panel = small[y : y + h, x : x + w]
            # A transparent work shown flattened onto a colour fills its panel with that colour:
            # hashed on white too, as a whole query is.
            for view in (panel, background_to_white(panel)):
                if view is not None:
                    views.append(view)
                    panel_boxes.append(in_page)
    dihedral = [global_hashes.pdq_dihedral(v) for v in views]
    pdq = np.stack([hashes for hashes, _ in dihedral])
    pdq_quality = dihedral[0][1]  # of the whole view
    if min(decoded.original_size) < quality.MIN_SIDE_PX:
        # Enlarged 20x or more, such an image's corners are interpolation artefacts; the gate
        # refuses it anyway, and as a query only its whole-image hash may name a work.
        local = mirrored = local_features.NONE
    elif role == "reference":
        alternates = []
        if decoded.alpha is not None:
            edge = _silhouette(decoded.alpha)
            for colour in SILHOUETTE_BACKGROUNDS:
                other = cv2.cvtColor(decoded.flattened_on(colour), cv2.COLOR_RGB2GRAY)
                alternates.append((other, edge, SILHOUETTE_FEATURES // len(SILHOUETTE_BACKGROUNDS)))
        local, mirrored = local_features.extract(
            gray, REFERENCE_FEATURES, alternates=tuple(alternates), upscale=upscale
        )
    else:
        budget = max(REFERENCE_FEATURES, round(QUERY_FEATURES_PER_MPX * gray.size / 1e6))
        local, mirrored = local_features.extract(
            gray, budget, mirror_budget=round(budget * MIRROR_SHARE), upscale=upscale
        )
    edges = quality.edge_density(cv2.cvtColor(edge_source, cv2.COLOR_RGB2GRAY))
    # Registered works only: a query's is made from its thumbnail when a search needs it.
    described = (
        copy_embedding.embed_work(small)
        if role == "reference"
        else (copy_embedding.EMPTY, copy_embedding.NO_VIEWS)
    )
    # Registration only: a work refused for it gets a reason instead of a receipt that protects
    # nothing; a query keeps whatever its hashes can still find.
    unusable = (lambda: global_hashes.whole_hash_unusable(small, pdq[0])) if role == "reference" else None
    reason = quality.is_low_information(decoded.original_size, edges, len(local), pdq_quality, unusable)
    return Fingerprint(
        sha256=sha256,
        size=decoded.original_size,
        working_size=(rgb.shape[1], rgb.shape[0]),
        pdq=pdq,
        pdq_quality=pdq_quality,
        regions=global_hashes.region_hashes(small) if role == "reference" else _NO_REGIONS,
        # Registered works keep pHash for exchange and to corroborate a drifted PDQ; a query's is
        # hashed from its thumbnail only when a search needs it (``verdicts._query_phash``).
        phash=global_hashes.phash(small) if role == "reference" else _NO_PHASH,
        local=local,
        mirrored=mirrored,
        edge_density=edges,
        low_information_reason=reason,
        appearance=appearance_signature(small),
        embedding=described[0],
        views=described[1],
        lightness=lightness_map.lightness_map(small) if role == "reference" else lightness_map.EMPTY,
        thumbnail=small,
        panels=tuple(panel_boxes),
        page_item=role == "query" and not whole_page,
        items=(
            DeferredItems.found_later(functools.partial(_items, page, small, sha256))
            if role == "query" and whole_page and reason is None
            else ()
        ),
    )


def _items(page: DecodedImage, small: np.ndarray, sha256: str) -> DeferredItems:
    """The items on the page, found on its 256 px thumbnail (at full size, JPEG speckle made
    finding them cost 23 ms a query), cut from its pixels as decoded (never enlarged), to be
    fingerprinted when a search first needs them (looked for only then too: ``DeferredItems.
    found_later``). A page with none may be a product photo:
    then its salient region is its one item, enlarged as a whole query is (``salient_region``)."""
    boxes = page_items(small)
    min_side = ITEM_MIN_SIDE
    if not boxes and (region := salient_region(small)) is not None:
        boxes, min_side = [region], QUERY_MIN_SIDE
    rgb = page.rgb
    f = rgb.shape[1] / small.shape[1]
    to_original = page.original_size[0] / rgb.shape[1]
    pending = []
    for sx, sy, sw, sh in boxes:
        x, y = math.floor(sx * f), math.floor(sy * f)
        w, h = (
            min(math.ceil((sx + sw) * f), rgb.shape[1]) - x,
            min(math.ceil((sy + sh) * f), rgb.shape[0]) - y,
        )
        box = (round(x * to_original), round(y * to_original), round(w * to_original), round(h * to_original))
        if min(box[2:]) < quality.MIN_SIDE_PX:
            continue  # the gate would refuse it once fingerprinted: a search skips it anyway
        pending.append((box, np.ascontiguousarray(rgb[y : y + h, x : x + w])))
    compute = functools.partial(_item_fingerprint, sha256, page.format, min_side=min_side)
    return DeferredItems(pending, compute)


def _item_fingerprint(
    sha256: str,
    fmt: str,
    n: int,
    box: tuple[int, int, int, int],
    crop: np.ndarray,
    *,
    min_side: int = ITEM_MIN_SIDE,
) -> Fingerprint:
    # Named apart from any file's bytes: an item is never an `exact` copy of a registered file.
    name = hashlib.sha256(f"{sha256}/item/{n}".encode()).hexdigest()
    decoded = DecodedImage(crop, None, (box[2], box[3]), fmt)
    return _fingerprint_decoded(decoded, name, role="query", min_side=min_side, whole_page=False)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    inter = geometry.overlap_area(a, b)
    return inter / max(1, a[2] * a[3] + b[2] * b[3] - inter)
