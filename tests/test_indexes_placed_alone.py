"""A whole work placed on the whole query with nothing else behind it, and below
``scoring.PLACED_ALONE_CHECKED_BELOW``, is a `match` only when the copy descriptor finds the query like
the work too: icons of one set share a page or a casing and place on each other that way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from indexes import Engine, Fingerprint, copy_embedding, embedding_index, fingerprint, scoring
from indexes.local_features import LocalFeatures
from tests import imagegen

# 25 shared features place with 25 inliers: local_score 0.85, a `match` on placement alone.
SHARED = 25
# A committed CC0 drawing the copy descriptor finds unlike the generated query (cosine ~0.14).
BOOKS = Path(__file__).resolve().parent.parent / "samples" / "works" / "06_stack_of_books_01.png"


@pytest.fixture(scope="module")
def books() -> Fingerprint:
    return fingerprint(BOOKS.read_bytes(), role="reference")


@pytest.fixture(scope="module")
def query() -> Fingerprint:
    return fingerprint(imagegen.encode(imagegen.artwork(303)))


def _template_sibling(query: Fingerprint, unrelated: Fingerprint, embedding_of: Fingerprint) -> Fingerprint:
    """``unrelated``'s reference fingerprint wearing ``SHARED`` of the query's own ORB features where
    the query has them (a whole-on-whole placement, as a shared template gives), with the copy
    descriptor of ``embedding_of``."""
    shared = LocalFeatures(query.local.points[:SHARED].copy(), query.local.descriptors[:SHARED].copy())
    return dataclasses.replace(
        unrelated,
        local=shared,
        mirrored=shared.head(0),
        working_size=query.working_size,
        embedding=embedding_of.embedding,
    )


def _only_match(engine: Engine, query: Fingerprint):
    matches = [m for m in engine.search(query) if m.key == 1]
    assert len(matches) == 1, matches
    return matches[0]


def test_a_template_sibling_the_descriptor_does_not_confirm_is_only_reviewed(query, books):
    engine = Engine()
    engine.add(1, _template_sibling(query, books, books))
    match = _only_match(engine, query)
    assert match.verdict == "review", match
    assert match.kind == "near"  # the whole work on the whole query
    # The placement alone would have made it a `match`: the descriptor's check is what stops it.
    descriptor = copy_embedding.embed(query.thumbnail)
    assert float(embedding_index.cosines(descriptor, books.embedding)) < scoring.PLACED_ALONE_COSINE
    assert scoring.unconfirmed(match.score + 0.1) == pytest.approx(match.score)
    assert match.score + 0.1 >= scoring.MATCH_THRESHOLD


def test_the_same_placement_is_a_match_when_the_descriptor_agrees(query, books):
    registered_self = fingerprint(imagegen.encode(imagegen.artwork(303)), role="reference")
    engine = Engine()
    engine.add(1, _template_sibling(query, books, registered_self))
    match = _only_match(engine, query)
    assert match.verdict == "match", match
    assert scoring.MATCH_THRESHOLD <= match.score < scoring.PLACED_ALONE_CHECKED_BELOW
