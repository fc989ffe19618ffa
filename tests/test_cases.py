"""Cases in a real SQLite database: de-duplication across scans, licensing, the status life cycle."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from rights import cases, db
from rights.errors import BadInput, Conflict, NotFound
from rights.registry import Registry
from tests.rights_support import artwork_png


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = db.connect(tmp_path)
    yield c
    c.close()


def _match(work_id: int = 1, score: float = 0.9, licensed: bool = False, verdict: str = "match") -> dict:
    return {
        "work_id": f"w_{work_id}",
        "creator": "ana",
        "title": "Fox",
        "score": score,
        "verdict": verdict,
        "kind": "partial",
        "region": [4, 5, 60, 70],
        "licensed": licensed,
    }


LISTING = {"listing_id": "L1", "platform": "bazaar", "title": "Fox mug", "url": "https://bazaar.example/L1"}


def _hit(conn: sqlite3.Connection, **kw: object) -> cases.Case:
    listing = kw.pop("listing", LISTING)
    scan = kw.pop("scan", "scan_a")
    with db.transaction(conn):
        return cases.record_hit(
            conn, match=_match(**kw), listing=listing, evidence={"query_thumb": "x"}, scan_id=scan
        )


def test_one_case_per_work_and_listing_across_scans(conn: sqlite3.Connection) -> None:
    first = _hit(conn, score=0.8, scan="scan_a")
    again = _hit(conn, score=0.95, scan="scan_b")
    other_work = _hit(conn, work_id=2, scan="scan_b")
    assert again.id == first.id and other_work.id != first.id
    assert again.status == "open" and again.score == 0.95  # strongest evidence kept
    assert again.first_scan_id == "scan_a" and again.last_scan_id == "scan_b"
    weaker = _hit(conn, score=0.5, scan="scan_c")
    assert weaker.score == 0.95
    assert [c.id for c in cases.list_cases(conn, creator="ana")] == [first.id, other_work.id]
    assert cases.list_cases(conn, creator="bob") == []


def test_a_rescan_keeps_the_listing_as_last_seen(conn: sqlite3.Connection) -> None:
    """The seller, title and address stayed the first sighting's: a case a new seller's listing
    reopened could get no notice ("a licence covers the listing"), and an address a later feed gave
    never reached the notice (an audit)."""
    first = _hit(
        conn, licensed=True, listing={"listing_id": "L1", "platform": "bazaar", "seller": "licensee"}
    )
    assert first.status == "licensed" and first.listing_url is None
    later = {**LISTING, "seller": "pirate", "title": "Fox mug, cheap"}
    again = _hit(conn, licensed=False, scan="scan_b", listing=later)
    assert again.id == first.id and again.status == "open"
    assert (again.seller, again.listing_title, again.listing_url) == (
        "pirate",
        "Fox mug, cheap",
        LISTING["url"],
    )
    sparse = _hit(conn, scan="scan_c", listing={"listing_id": "L1", "platform": "bazaar", "title": ""})
    assert (sparse.seller, sparse.listing_title) == ("pirate", "Fox mug, cheap")  # absent keeps the last


def test_licensed_use_never_opens(conn: sqlite3.Connection) -> None:
    case = _hit(conn, licensed=True)
    assert case.status == "licensed"
    assert cases.list_cases(conn, status="open") == []


def test_licence_found_later_settles_open_case(conn: sqlite3.Connection) -> None:
    _hit(conn)
    case = _hit(conn, licensed=True, scan="scan_b")
    assert case.status == "licensed"
    assert [e["to"] for e in cases.case_events(conn, case.id)] == ["open", "licensed"]


def test_later_scans_reopen_when_the_licence_ends_or_the_listing_comes_back(conn: sqlite3.Connection) -> None:
    licensed = _hit(conn, licensed=True)
    assert _hit(conn, licensed=False, scan="scan_b").status == "open"  # the licence expired
    with db.transaction(conn):
        cases.change_status(conn, licensed.id, "notified", actor="ana")
    with db.transaction(conn):
        cases.change_status(conn, licensed.id, "taken_down", actor="ana")
    back = _hit(conn, scan="scan_c")
    assert back.status == "open"  # the listing came back: a new notice is due
    events = cases.case_events(conn, back.id)
    assert [(e["from"], e["to"]) for e in events][-1] == ("taken_down", "open")
    assert events[-1]["actor"] == "scan" and "came back" in events[-1]["note"]
    with db.transaction(conn):
        cases.change_status(conn, back.id, "dismissed", actor="ana")
    assert _hit(conn, scan="scan_d").status == "dismissed"  # the owner's decision stands
    assert _hit(conn, licensed=True, scan="scan_e").status == "dismissed"


def test_a_case_marked_licensed_by_hand_stays_licensed(conn: sqlite3.Connection) -> None:
    """A licence agreed outside the registry: the next scan reopened the case, finding no licence."""
    case = _hit(conn)
    with db.transaction(conn):
        cases.change_status(conn, case.id, "licensed", actor="ana", note="signed on paper")
    assert _hit(conn, scan="scan_b").status == "licensed"


def _registered_hits(reg: Registry, work_id: str, listings: list[dict]) -> list[int]:
    """Case ids of one `match` of the registered work in each listing."""
    with reg.transaction() as c:
        hits = [
            cases.record_hit(
                c, match={**_match(), "work_id": work_id}, listing=listing, evidence={}, scan_id="scan_a"
            )
            for listing in listings
        ]
    return [h.id for h in hits if h is not None]


def test_a_licence_granted_settles_the_cases_it_covers(tmp_path: Path) -> None:
    """They stayed open until a scan saw the listing again, and their notices, aimed at the
    licensee, were still served."""
    with Registry.open(tmp_path / "data") as reg:
        work = reg.register("ana", artwork_png(40))
        listings = [
            {**LISTING, "listing_id": i, "seller": seller} for i, seller in (("L1", "s1"), ("L2", "s2"))
        ]
        covered, other = _registered_hits(reg, work["work_id"], listings)
        assert cases.why_no_notice(reg.db, cases.get_case(reg.db, covered)) is None
        reg.add_license(work["work_id"], "s1", "bazaar")
        now_covered = cases.get_case(reg.db, covered)
        assert now_covered.status == "licensed" and cases.get_case(reg.db, other).status == "open"
        event = cases.case_events(reg.db, covered)[-1]
        assert (event["from"], event["to"], event["actor"]) == ("open", "licensed", "licence")
        assert "is licensed" in (cases.why_no_notice(reg.db, now_covered) or "")
        assert cases.why_no_notice(reg.db, cases.get_case(reg.db, other)) is None


def test_a_licence_covers_its_seller_and_platform_whatever_their_case_and_spaces(tmp_path: Path) -> None:
    """A licence to "alice-shop" on "printhub" opened cases for "Alice-Shop" on "PrintHub" (an audit)."""
    from rights import licenses

    with Registry.open(tmp_path / "data") as reg:
        key = int(reg.register("ana", artwork_png(40))["work_id"][2:])
        reg.add_license(f"w_{key}", "alice-shop", "printhub")

        def covered(seller: str, platform: str) -> bool:
            return bool(licenses.licensed_keys(reg.db, [key], platform=platform, seller=seller))

        assert covered("alice-shop", "printhub") and covered(" Alice-Shop ", "PrintHub")
        assert not covered("alice-shop2", "printhub") and not covered("alice-shop", "otherhub")


def test_withdrawing_a_work_dismisses_its_open_and_notified_cases(tmp_path: Path) -> None:
    """They stayed open in the owner's list, though no notice could be sent for them any more."""
    with Registry.open(tmp_path / "data") as reg:
        work = reg.register("ana", artwork_png(40))
        ids = _registered_hits(reg, work["work_id"], [{**LISTING, "listing_id": f"L{n}"} for n in range(4)])
        with reg.transaction() as c:
            cases.change_status(c, ids[1], "notified", actor="ana")
            cases.change_status(c, ids[2], "notified", actor="ana")
            cases.change_status(c, ids[2], "taken_down", actor="ana")
            cases.change_status(c, ids[3], "licensed", actor="ana")
        reg.withdraw(work["work_id"])
        after = [cases.get_case(reg.db, i).status for i in ids]
        assert after == ["dismissed", "dismissed", "taken_down", "licensed"]
        event = cases.case_events(reg.db, ids[1])[-1]
        assert (event["from"], event["to"], event["actor"]) == ("notified", "dismissed", "withdrawal")
        assert work["work_id"] in event["note"]
        # Nothing restarts a takedown for a work its holder no longer claims.
        for case_id in (ids[0], ids[2], ids[3]):
            with pytest.raises(Conflict, match="was withdrawn"):
                cases.change_status(reg.db, case_id, "open")
        # The refusal names the moves left, none here: a taken-down case had "dismissed or marked
        # licensed" advertised, and both were then refused (an audit).
        for case_id in (ids[0], ids[2], ids[3]):
            with pytest.raises(Conflict, match=f"case {case_id} cannot move any more"):
                cases.change_status(reg.db, case_id, "open")


def test_review_verdict_does_not_open_case(conn: sqlite3.Connection) -> None:
    with pytest.raises(BadInput):
        _hit(conn, verdict="review")


def test_status_transitions(conn: sqlite3.Connection) -> None:
    case = _hit(conn)
    with db.transaction(conn):
        case = cases.change_status(conn, case.id, "notified", actor="ana", note="sent")
    with db.transaction(conn):
        case = cases.change_status(conn, case.id, "taken_down", actor="ana")
    assert case.status == "taken_down"
    with db.transaction(conn):  # already there: nothing moves, and only a note is recorded
        assert cases.change_status(conn, case.id, "taken_down", actor="ana").status == "taken_down"
        cases.change_status(conn, case.id, "taken_down", actor="ana", note="gone from the shop")
    with pytest.raises(Conflict, match="can move to open, not dismissed"):
        cases.change_status(conn, case.id, "dismissed")
    with pytest.raises(BadInput, match="unknown case status"):
        cases.change_status(conn, case.id, "closed")
    with pytest.raises(NotFound):
        cases.change_status(conn, 999, "open")
    events = cases.case_events(conn, case.id)
    assert [(e["from"], e["to"]) for e in events] == [
        (None, "open"),
        ("open", "notified"),
        ("notified", "taken_down"),
        ("taken_down", "taken_down"),
    ]
    assert events[1]["actor"] == "ana" and events[1]["note"] == "sent"
    assert events[3]["note"] == "gone from the shop"  # was dropped


def test_every_listed_transition_is_allowed_and_others_refused(conn: sqlite3.Connection) -> None:
    for n, (start, targets) in enumerate(cases.TRANSITIONS.items()):
        for target in cases.STATUSES:
            listing = {"listing_id": f"L{n}-{target}", "platform": "bazaar"}
            case = _hit(conn, listing=listing)
            conn.execute("UPDATE cases SET status = ? WHERE id = ?", (start, case.id))
            if target == start or target in targets:
                assert cases.change_status(conn, case.id, target).status == target
            else:
                with pytest.raises(Conflict):
                    cases.change_status(conn, case.id, target)


def test_to_dict_hides_thumbnails_unless_asked(conn: sqlite3.Connection) -> None:
    case = _hit(conn)
    assert "query_thumb" not in case.to_dict()["evidence"]
    assert case.to_dict(with_images=True)["evidence"]["query_thumb"] == "x"
    assert case.to_dict()["evidence"]["region"] == [4, 5, 60, 70]


def test_a_note_on_a_licence_settled_case_keeps_it_settled_by_the_licence(conn: sqlite3.Connection) -> None:
    """A case a licence moved to `licensed` reopens when no licence covers it any more; an owner's note
    on it (no move) must not make it look licensed by hand, which no scan reverses."""
    case = _hit(conn)
    with db.transaction(conn):
        cases._set_status(conn, case.id, "open", "licensed", actor="licence", note="licence granted")
    assert not cases._licensed_by_hand(conn, case.id)
    with db.transaction(conn):
        cases.change_status(conn, case.id, "licensed", actor="ana", note="checked the contract")
    assert not cases._licensed_by_hand(conn, case.id)
    with db.transaction(conn):
        cases.change_status(conn, case.id, "open", actor="ana")
        cases.change_status(conn, case.id, "licensed", actor="ana")
    assert cases._licensed_by_hand(conn, case.id)
