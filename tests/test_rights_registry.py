"""The Registry façade against a real SQLite file, real engine and real signed log."""

from __future__ import annotations

import errno
import io
import json
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from PIL import Image

from indexes import Engine, Match, fingerprint, index_files
from indexes.engine import _VIEW_BITS
from rights import cases, derived_index
from rights.accounts import Account
from rights.config import Settings
from rights.db import original_path
from rights.errors import BadInput, Conflict, Forbidden, InvalidImage, LowInformation, NotFound, RightsError
from rights.log import VerificationError, verify_log, verify_receipt
from rights.registry import Registry
from tests import imagegen
from tests.imagegen import CAPITOL, blurred_capitol
from tests.rights_support import artwork_png, near_copy, plain_png

ALICE = Account(1, "alice", "creator")
MALLORY = Account(2, "mallory", "creator")


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with Registry.open(tmp_path / "data") as registry:
        yield registry


def test_register_returns_the_contract_body_with_a_verifiable_receipt(reg: Registry) -> None:
    body = reg.register("alice", artwork_png(1), title="Harbour", metadata={"year": 2024})
    contract = {"work_id", "creator", "title", "sha256", "registered_at", "status", "conflicts", "log_index"}
    assert contract <= set(body)
    assert body["status"] == "registered" and body["conflicts"] == []
    assert body["work_id"].startswith("w_") and body["creator"] == "alice" and body["title"] == "Harbour"
    entry = verify_receipt(body["receipt"], reg.data_dir / "log-public-key.pem")
    assert entry["kind"] == "register" and entry["work_id"] == body["work_id"]
    with pytest.raises(VerificationError, match="malformed receipt: it has no 'version' field"):
        verify_receipt({}, reg.data_dir / "log-public-key.pem")
    assert entry["work_sha256"] == body["sha256"] and entry["index"] == body["log_index"]
    assert original_path(reg.data_dir, body["sha256"]).read_bytes() == artwork_png(1)
    assert reg.get_work(body["work_id"])["metadata"] == {"year": 2024}


def test_same_bytes_same_creator_is_idempotent(reg: Registry) -> None:
    first = reg.register("alice", artwork_png(2))
    again = reg.register("alice", artwork_png(2), title="ignored")
    assert again["work_id"] == first["work_id"] and again["log_index"] == first["log_index"]
    assert again["receipt"] == first["receipt"]
    assert reg.log.size() == 1


def test_same_bytes_by_another_creator_is_contested(reg: Registry) -> None:
    prior = reg.register("alice", artwork_png(3), title="Original")
    copy = reg.register("mallory", artwork_png(3))
    assert copy["status"] == "contested"
    [conflict] = copy["conflicts"]
    assert conflict["work_id"] == prior["work_id"] and conflict["creator"] == "alice"
    assert conflict["kind"] == "exact" and conflict["verdict"] == "match" and conflict["score"] == 1.0
    # The whole image, as `POST /v1/match` shows an exact match (it was null here; an audit).
    assert conflict["region"] == reg.match_image(artwork_png(3))["matches"][0]["region"]
    assert conflict["region"][:2] == [0, 0]
    assert conflict["log_index"] == prior["log_index"]
    assert conflict["registered_at"] == prior["registered_at"]
    assert reg.get_work(copy["work_id"])["conflicts"] == copy["conflicts"]
    # Re-uploading the file must not hide its crops (both works' identical features once cancelled out).
    picture = Image.open(io.BytesIO(artwork_png(3)))
    crop = picture.crop((0, 0, picture.width * 6 // 10, picture.height * 6 // 10))
    found = reg.match_image(_jpeg(crop.convert("RGB"), 85), 5)["matches"]
    assert {m["creator"]: m["verdict"] for m in found} == {"alice": "match", "mallory": "match"}


def test_a_resaved_copy_by_another_creator_hides_no_crops_of_the_original(reg: Registry) -> None:
    """A PNG saved again (other bytes, the same pixels) once left 0 of 40 crops of the original found."""
    picture = Image.open(io.BytesIO(artwork_png(4))).convert("RGB")
    reg.register("alice", artwork_png(4))
    buf = io.BytesIO()
    picture.save(buf, "PNG", compress_level=1)
    assert reg.register("mallory", buf.getvalue())["status"] == "contested"
    crop = picture.crop((picture.width // 4, picture.height // 4, picture.width, picture.height))
    for query in (crop, crop.rotate(10, expand=True, fillcolor="white")):
        found = reg.match_image(_jpeg(query, 85), 5)["matches"]
        assert {m["creator"]: m["verdict"] for m in found} == {"alice": "match", "mallory": "match"}


def test_near_duplicate_by_another_creator_is_contested(reg: Registry) -> None:
    prior = reg.register("alice", artwork_png(4))
    reg.register("alice", artwork_png(5))
    copy = reg.register("mallory", near_copy(4))
    assert copy["status"] == "contested"
    assert [c["work_id"] for c in copy["conflicts"]] == [prior["work_id"]]
    assert copy["conflicts"][0]["kind"] in ("near", "partial")
    # The author's own variant is not a conflict.
    assert reg.register("alice", near_copy(5))["status"] == "registered"


def test_a_copiers_registered_edit_still_names_the_original(reg: Registry) -> None:
    """A copier registers an edited copy (contested) and lists exactly that file: the listing's best
    explanation is the copier's own work, which opens no case, so the original must be a `match` too
    (an audit found it demoted to `review`, and no case opened for anyone)."""
    picture = Image.open(io.BytesIO(artwork_png(7))).convert("RGB")
    original = reg.register("bob", _jpeg(picture, 92))
    edit = _jpeg(picture.crop((20, 20, picture.width - 20, picture.height - 20)).rotate(3), 75)
    copy = reg.register("dave", edit)
    assert copy["status"] == "contested" and [c["work_id"] for c in copy["conflicts"]] == [
        original["work_id"]
    ]
    link = copy["conflicts"][0]["score"]
    found = reg.match_image(edit, 5)
    by_creator = {m["creator"]: m for m in found["matches"]}
    assert found["verdict"] == "match" and set(by_creator) == {"bob", "dave"}
    assert by_creator["dave"]["kind"] == "exact" and by_creator["bob"]["verdict"] == "match"
    assert by_creator["bob"]["kind"] == "near"  # the listing is a copy of bob's work, not its file
    assert by_creator["bob"]["score"] == pytest.approx(link)  # the weaker of the two links
    assert [m["creator"] for m in found["matches"]] == ["dave", "bob"]  # still sorted by score
    assert len(reg.match_image(edit, 1)["matches"]) == 1  # the limit still holds
    # A licence of the original covers the listing; a withdrawn original is not named.
    reg.add_license(original["work_id"], "shop7")
    licensed = reg.match_image(edit, 5, seller="shop7")["matches"]
    assert {m["creator"]: m["licensed"] for m in licensed} == {"dave": False, "bob": True}
    reg.withdraw(original["work_id"])
    assert [m["creator"] for m in reg.match_image(edit, 5)["matches"]] == ["dave"]


def test_a_collage_holding_a_work_does_not_pass_it_to_listings_of_its_other_part(reg: Registry) -> None:
    """B holds A in a strip and is contested for it; a listing of B's other part shows none of A, so A
    is not named (an audit found it named, and a case opened against the collage's author)."""
    prior = reg.register("alice", artwork_png(11))
    a = Image.open(io.BytesIO(artwork_png(11))).convert("RGB")
    a = a.resize((450, a.height * 450 // a.width))
    own = Image.open(io.BytesIO(artwork_png(12))).convert("RGB").resize((700, 600))
    collage = Image.new("RGB", (1150, 600), "white")
    collage.paste(own, (450, 0))
    collage.paste(a, (0, (600 - a.height) // 2))
    contested = reg.register("bob", _jpeg(collage, 90))
    assert contested["status"] == "contested" and contested["conflicts"][0]["work_id"] == prior["work_id"]
    found = reg.match_image(_jpeg(collage.crop((470, 0, 1150, 600)), 85), 5)["matches"]
    assert [m["creator"] for m in found if m["verdict"] == "match"] == ["bob"]
    # The collage's own file shows A, where the registration found it: a copier who registers a page
    # holding the original in a corner and lists that page must not hide it (an audit: no case opened).
    whole = {m["creator"]: m for m in reg.match_image(_jpeg(collage, 90), 5)["matches"]}
    assert whole["bob"]["kind"] == "exact"
    assert whole["alice"]["verdict"] == "match" and whole["alice"]["kind"] == "partial"
    x, y, w, h = whole["alice"]["region"]
    cx, cy, cw, ch = contested["conflicts"][0]["region"]
    shared = max(0, min(x + w, cx + cw) - max(x, cx)) * max(0, min(y + h, cy + ch) - max(y, cy))
    assert shared >= 0.8 * max(w * h, cw * ch)
    # So does a re-encode of the whole collage (named at `match`, somewhere in the listing).
    again = {m["creator"]: m for m in reg.match_image(_jpeg(collage, 70), 5)["matches"]}
    assert again["alice"]["verdict"] == "match" and again["alice"]["kind"] == "partial"


def test_a_copier_listing_its_registered_mockup_of_a_work_does_not_hide_the_work(reg: Registry) -> None:
    """The demo's T-shirt mock-up of a coat of arms, registered by a copier (contested, the arms found
    in 17 % of it) and listed as that file: the copier's exact file explained the listing away, and
    neither work opened a case (an audit). The arms are named at `match`, where they were found."""
    samples = Path(__file__).resolve().parents[1] / "samples"
    original = reg.register("alice", (samples / "works" / "24_coat_of_arms_of_anglica.png").read_bytes())
    mockup = (samples / "listings" / "pr-1070.jpg").read_bytes()
    before = {m["creator"]: m for m in reg.match_image(mockup, 5)["matches"]}
    assert before["alice"]["verdict"] == "match" and before["alice"]["kind"] == "partial"
    copy = reg.register("mallory", mockup)
    assert copy["status"] == "contested" and copy["conflicts"][0]["work_id"] == original["work_id"]
    found = {m["creator"]: m for m in reg.match_image(mockup, 5)["matches"]}
    assert found["mallory"]["kind"] == "exact"
    assert found["alice"]["verdict"] == "match" and found["alice"]["kind"] == "partial"
    assert found["alice"]["region"] == copy["conflicts"][0]["region"]


def test_refusals(reg: Registry) -> None:
    with pytest.raises(LowInformation):
        reg.register("alice", plain_png())
    with pytest.raises(InvalidImage) as info:
        reg.register("alice", b"definitely not an image")
    assert info.value.code != "internal"
    with pytest.raises(BadInput):
        reg.register("bad name with spaces", artwork_png(6))
    with pytest.raises(BadInput):
        reg.register("alice", artwork_png(6), metadata=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="control characters"):
        reg.register("alice", artwork_png(6), title="Gull\x00\x1b[2J")
    with pytest.raises(BadInput, match="control characters"):  # U+2028 ends a line in JSON Lines readers
        reg.register("alice", artwork_png(6), title="Gull\u2028at dusk")
    with pytest.raises(BadInput, match="not valid Unicode"):  # would fail when written out as UTF-8
        reg.register("alice", artwork_png(6), title="Gull\udcff")
    with pytest.raises(BadInput, match="not valid Unicode"):
        reg.register("alice", artwork_png(6), metadata={"from": "\ud800"})
    reg.create_key("platform", "shop")
    with pytest.raises(Forbidden):
        reg.register("shop", artwork_png(6))
    assert reg.log.size() == 0
    work = reg.register("alice", artwork_png(6))
    with pytest.raises(BadInput, match="control characters"):
        reg.add_license(work["work_id"], "goodprints\n", "bazaar", None)


def test_match_and_withdraw(reg: Registry) -> None:
    work = reg.register("alice", artwork_png(7), title="Gull")
    reg.register("alice", artwork_png(8))
    found = reg.match_image(near_copy(7))
    assert found["verdict"] == "match" and found["took_ms"] >= 0
    assert found["matches"][0]["work_id"] == work["work_id"]
    assert set(found["matches"][0]) == {
        "work_id", "creator", "title", "score", "verdict", "kind", "region", "licensed"
    }  # fmt: skip
    assert reg.match_image(artwork_png(99))["verdict"] != "match"

    with pytest.raises(Forbidden):
        reg.withdraw(work["work_id"], MALLORY)
    gone = reg.withdraw(work["work_id"], ALICE)
    assert gone["status"] == "withdrawn"
    assert work["work_id"] not in [m["work_id"] for m in reg.match_image(near_copy(7))["matches"]]
    size = reg.log.size()
    reg.withdraw(work["work_id"], ALICE)  # repeat: no new entry
    assert reg.log.size() == size
    last = json.loads(reg.log.entry(size - 1))
    assert last["kind"] == "withdraw" and last["work_id"] == work["work_id"]
    # After withdrawal the same creator may register the bytes anew.
    assert reg.register("alice", artwork_png(7))["work_id"] != work["work_id"]
    with pytest.raises(NotFound):
        reg.withdraw("w_999")
    with pytest.raises(NotFound):
        reg.get_work("nonsense")


def test_licences_set_the_licensed_flag(reg: Registry) -> None:
    work = reg.register("alice", artwork_png(9))
    query = near_copy(9)
    with pytest.raises(Forbidden):
        reg.add_license(work["work_id"], "goodshop", actor=MALLORY)
    with pytest.raises(BadInput):
        reg.add_license(work["work_id"], "goodshop", expires_at="2001-01-01T00:00:00Z")
    lic = reg.add_license(work["work_id"], "goodshop", "etsy", "2999-01-01T00:00:00+02:00", actor=ALICE)
    assert lic["expires_at"] == "2998-12-31T22:00:00.000Z"
    assert json.loads(reg.log.entry(lic["log_index"]))["kind"] == "license"

    def licensed(**kw: str | None) -> bool:
        return bool(reg.match_image(query, **kw)["matches"][0]["licensed"])

    assert licensed(platform="etsy", seller="goodshop")
    assert not licensed(platform="ebay", seller="goodshop")  # licence names another platform
    assert not licensed(platform=None, seller="goodshop")
    assert not licensed(platform="etsy", seller="badshop")
    # A seller's licence is no platform-wide licence for a platform that shares its name.
    assert not licensed(platform="goodshop", seller=None)
    reg.add_license(work["work_id"], "printhub")
    assert not licensed(platform="printhub", seller=None)  # printhub is no platform account (yet)
    reg.create_key("platform", "printhub")
    assert licensed(platform="printhub", seller=None)  # platform-wide: the licensee is the platform itself
    assert licensed(platform="printhub", seller="anyone")
    # ... and no licence for a seller who happens to share the platform's name elsewhere.
    assert not licensed(platform="ebay", seller="printhub")
    assert not licensed(platform=None, seller="printhub")
    assert [x["licensee"] for x in reg.list_licenses(work["work_id"], ALICE)] == ["goodshop", "printhub"]


def test_list_works_pages(reg: Registry) -> None:
    ids = [reg.register("alice", artwork_png(20 + i))["work_id"] for i in range(5)]
    reg.register("bob", artwork_png(30))
    seen, cursor = [], None
    while True:
        page = reg.list_works("alice", limit=2, cursor=cursor)
        seen += [w["work_id"] for w in page["works"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert len(reg.list_works(limit=100)["works"]) == 6
    with pytest.raises(BadInput):
        reg.list_works(limit=0)
    with pytest.raises(BadInput):
        reg.list_works(cursor="garbage")


def _live_keys(data_dir: Path) -> set[int]:
    with sqlite3.connect(data_dir / "rights.sqlite3") as conn:
        return {r[0] for r in conn.execute("SELECT id FROM works WHERE status != 'withdrawn'")}


@pytest.mark.parametrize("damage", ["delete", "corrupt", "stale", "old_format"])
def test_index_is_rebuilt_from_the_database(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        keep = reg.register("alice", artwork_png(40))
        reg.flush_index()  # the index is saved lazily; persist this state for the snapshot
        snapshot = tmp_path / "index-before"
        shutil.copytree(data / "index", snapshot)
        late = reg.register("alice", artwork_png(41))  # absent from the snapshot
        reg.withdraw(keep["work_id"])  # present in the snapshot
    index = data / "index"
    if damage == "delete":
        shutil.rmtree(index)
    elif damage == "corrupt":
        for f in index.iterdir():
            f.write_bytes(b"\x00garbage" * 10)
    elif damage == "old_format":  # written by an earlier release (format 2 had no per-work PDQ)
        manifest = json.loads((index / "manifest.json").read_text())
        (index / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    else:  # a crash between DB commit and index save: the old index misses one work and ghosts another
        shutil.rmtree(index)
        shutil.copytree(snapshot, index)
    lock = index / "index.lock"
    lock_inode = lock.stat().st_ino if lock.exists() else None
    with Registry.open(data) as reg:
        assert reg.engine.keys() == _live_keys(data) == {int(late["work_id"][2:])}
        assert reg.match_image(near_copy(41))["matches"][0]["work_id"] == late["work_id"]
        withdrawn = reg.match_image(artwork_png(40))["matches"]
        assert keep["work_id"] not in [m["work_id"] for m in withdrawn]
    assert verify_log(data).ok
    if lock_inode is not None:  # damaged files go, the lock other processes hold stays (an audit)
        assert lock.stat().st_ino == lock_inode


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ("permission", r"index folder .* cannot be used \(Permission denied\); fix its permissions"),
        ("memory", r"index in .* does not fit in memory now; free some"),
    ],
)
def test_an_index_it_may_not_read_is_reported_not_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str, said: str
) -> None:
    """A permission error was taken for damage: the whole folder was deleted, lock file and all, and
    rebuilt at every open (an audit). A passing shortage of memory too (6-13 min at 100k works)."""
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        reg.register("alice", artwork_png(42))
    before = sorted(p.name for p in (data / "index").iterdir())

    def refused(*args: object, **kwargs: object) -> None:
        if failure == "memory":
            raise MemoryError
        raise PermissionError(errno.EACCES, "Permission denied", str(data / "index" / "manifest.json"))

    monkeypatch.setattr(index_files, "read", refused)
    with pytest.raises(RightsError, match=said):
        Registry.open(data)
    assert sorted(p.name for p in (data / "index").iterdir()) == before


def test_a_registry_whose_signing_key_is_gone_is_refused_not_rekeyed(tmp_path: Path) -> None:
    """Even a read-only open made a new key and replaced the published public key with it."""
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        reg.register("alice", artwork_png(40))
    published = (data / "log-public-key.pem").read_bytes()
    (data / "log-signing-key.pem").unlink()
    with pytest.raises(RightsError, match="restore the key from a backup"):
        Registry.open(data)
    assert (data / "log-public-key.pem").read_bytes() == published
    assert verify_log(data).ok


def test_a_changed_log_origin_is_refused(tmp_path: Path) -> None:
    """RIGHTS_LOG_ORIGIN changed between runs signed later checkpoints under another origin, silently."""
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        reg.register("alice", artwork_png(40))
    with pytest.raises(RightsError, match="this log's checkpoints name 'rights-registry'"):
        Registry.open(Settings(data=data, log_origin="other.example"))
    with pytest.raises(ValueError):
        Settings(data=data, log_origin="two\nlines")  # not one line of the signed text


def test_an_index_file_with_relabelled_ids_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    """The PDQ index's ids edited so that work B's views read as work A's: FAISS loads that file
    without complaint, and a copy of B came back as a 0.9999 `match` on A."""
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        a = reg.register("alice", artwork_png(40))
        b = reg.register("bob", artwork_png(41))
        reg.flush_index()
    key_a, key_b = int(a["work_id"][2:]), int(b["work_id"][2:])
    index = data / "index"
    pdq = index / json.loads((index / "manifest.json").read_text())["files"]["pdq"]
    raw = bytearray(pdq.read_bytes())
    ids = faiss.read_index_binary(str(pdq)).ntotal  # IndexBinaryIDMap2: its int64 ids close the file
    relabelled = 0
    for at in range(len(raw) - 8 * ids, len(raw), 8):
        value = int.from_bytes(raw[at : at + 8], "little")
        if value >> _VIEW_BITS == key_b:
            view = value & ((1 << _VIEW_BITS) - 1)
            raw[at : at + 8] = ((key_a << _VIEW_BITS) | view).to_bytes(8, "little")
            relabelled += 1
    assert relabelled
    pdq.write_bytes(bytes(raw))
    with Registry.open(data) as reg:
        found = reg.match_image(near_copy(41))["matches"]
    assert [m["work_id"] for m in found if m["verdict"] == "match"] == [b["work_id"]], found


def test_an_index_from_before_phash_is_rebuilt_with_it(tmp_path: Path) -> None:
    """Format 5 kept no pHash per work; the database's fingerprints have it, so opening rebuilds."""
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        work = reg.register("alice", CAPITOL.read_bytes())
        reg.flush_index()
        assert reg.match_image(blurred_capitol())["verdict"] == "match"
    index = data / "index"
    manifest = json.loads((index / "manifest.json").read_text())
    works = index / manifest["files"]["works"]
    with np.load(works) as z:
        arrays = {name: z[name] for name in z.files if name not in ("phash", "has_phash")}
    with open(works, "wb") as fh:
        np.savez(fh, **arrays)
    del manifest["crc32"]  # format 5 kept none
    (index / "manifest.json").write_text(json.dumps({**manifest, "format": 5}))
    assert Engine(index).loaded_older_format  # as the old release left it: no pHash to agree with
    assert not any(m.verdict == "match" for m in Engine(index).search(fingerprint(blurred_capitol())))
    with Registry.open(data) as reg:
        assert not reg.engine.loaded_older_format
        found = reg.match_image(blurred_capitol())
        assert found["verdict"] == "match" and found["matches"][0]["work_id"] == work["work_id"]
    assert json.loads((index / "manifest.json").read_text())["format"] == index_files.FORMAT


def test_a_new_feature_budget_rebuilds_the_index(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        work = reg.register("alice", artwork_png(42))
        default_size = len(reg.engine._local)
    assert default_size > 64
    with Registry.open(Settings(data=data, features_per_work=64)) as reg:
        assert reg.engine.stored_features_per_work == reg.engine.features_per_work == 64
        assert len(reg.engine._local) == 64
        assert reg.match_image(near_copy(42))["matches"][0]["work_id"] == work["work_id"]
    with Registry.open(data) as reg:  # no budget given: the index keeps the one it was built with
        assert reg.engine.features_per_work == 64 and len(reg.engine._local) == 64


def test_exclusive_placements_off_keeps_no_descriptors_and_back_on_rebuilds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Registry.open(Settings(data=data, exclusive_placements=False)) as reg:
        work = reg.register("alice", artwork_png(43))
        assert not any(len(w.descriptors) for w in reg.engine._works.values())
        assert reg.match_image(near_copy(43))["matches"][0]["work_id"] == work["work_id"]
    with Registry.open(data) as reg:  # the default wants them: the index is rebuilt with them
        assert not reg.engine.loaded_older_format
        assert all(len(w.descriptors) == len(w.fixed_points) > 0 for w in reg.engine._works.values())


def test_index_saves_take_a_bounded_share_of_the_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save rewrites the whole index (30 s at a million works) while writes wait, so saves
    are spaced by how long the last one took, not only by the fixed interval."""
    monkeypatch.setattr(derived_index, "INDEX_SAVE_INTERVAL_S", 0.0)
    with Registry.open(tmp_path / "data") as reg:
        manifest = reg.data_dir / "index" / "manifest.json"
        reg.register("alice", artwork_png(60))
        saved = manifest.read_text()  # every save writes a new generation into the manifest
        reg.index.save_s = 3600.0  # as if the last save had taken an hour
        late = reg.register("alice", artwork_png(61))
        assert manifest.read_text() == saved, "saved although the last save was slow"
        assert reg.match_image(artwork_png(61))["matches"][0]["work_id"] == late["work_id"]
        reg.index.save_s = 0.0
        reg.register("alice", artwork_png(62))
        assert manifest.read_text() != saved


def test_two_registries_racing_on_one_directory(tmp_path: Path) -> None:
    """As two servers (or a server and a bulk register) on one data directory: each registration
    re-checks under the database's write lock, and index saves never delete each other's files."""
    with Registry.open(tmp_path) as a, Registry.open(tmp_path) as b:
        a.index.save_s = b.index.save_s = 0.0
        for n in range(6):
            same = artwork_png(700 + n)
            one, two = _race(partial(a.register, "carol", same), partial(b.register, "carol", same))
            assert one["work_id"] == two["work_id"]  # the same bytes by the same creator: one work
            original, copy = artwork_png(800 + n), near_copy(800 + n)
            pair = _race(partial(a.register, "alice", original), partial(b.register, "dave", copy))
            assert sorted(r["status"] for r in pair) == ["contested", "registered"], pair
            a.flush_index()
            b.flush_index()
    with Registry.open(tmp_path) as again:
        assert len(again.engine.keys()) == 18  # per round: carol once, alice, dave
    assert verify_log(tmp_path, tmp_path / "log-public-key.pem").ok


def test_a_registry_closing_keeps_what_another_saved_since(tmp_path: Path) -> None:
    """Closing saves the index: it must first take in what another process changed (here a
    re-fingerprinted work: same key, so the startup check by key set would never notice)."""
    with Registry.open(tmp_path) as a:
        work = a.register("alice", artwork_png(90))  # in a's memory, not yet saved
        key = int(work["work_id"].removeprefix("w_"))
        newer = fingerprint(artwork_png(90), role="query")  # another method's fingerprint of the same bytes
        with Registry.open(tmp_path) as b:
            row = b.db.execute("SELECT fp_digest FROM works WHERE id = ?", (key,)).fetchone()
            assert b.replace_fingerprint(key, newer, row[0])
    budget = Engine().features_per_work
    old_count = len(fingerprint(artwork_png(90), role="reference").local.head(budget))
    new_count = len(newer.local.head(budget))
    assert new_count != old_count  # so that the saved index tells the two apart
    saved = Engine(tmp_path / "index")
    assert len(saved._works[key].fixed_points) == new_count


def test_an_older_index_is_never_saved_over_a_newer_one(tmp_path: Path) -> None:
    """Process B caught up, then A registered and saved; B's save then wrote over A's index, so A's
    scan workers (which load the saved index) would not know the work A had just registered."""
    with Registry.open(tmp_path) as a, Registry.open(tmp_path) as b:
        a.register("alice", artwork_png(95))
        b.sync()  # B is up to date ...
        work = a.register("alice", artwork_png(96))  # ... until A registers and saves
        a.flush_index()
        b.index.dirty = True
        b.index.save()  # B saving what it caught up with before
        key = int(work["work_id"].removeprefix("w_"))
        assert key in Engine(tmp_path / "index")  # A's work is still in the saved index
        assert b.index.dirty  # B saves after its next catch-up
        b.flush_index()
        assert not b.index.dirty and key in Engine(tmp_path / "index")


@pytest.mark.parametrize("log_caught_up", [False, True])
def test_an_index_newer_than_its_database_is_rebuilt_not_trusted(tmp_path: Path, log_caught_up: bool) -> None:
    """A copy of the data folder taken while it was written (the database first, the index last)
    paired an older database with a newer index: the copy's next works reused the ids of works
    only the original had, and matched those pictures instead of their own, for good (the larger
    stamp refused every corrected save). Once the copy's log has grown past the index's stamp,
    only the bytes under the ids tell."""
    original, copy = tmp_path / "original", tmp_path / "copy"
    with Registry.open(original) as reg:
        for seed in range(3):
            reg.register("alice", artwork_png(300 + seed))
    shutil.copytree(original, copy)
    with Registry.open(original) as reg:  # written after the copy of the database was taken
        for seed in range(3, 7):
            reg.register("alice", artwork_png(300 + seed))
    bob: list[str] = []
    if log_caught_up:
        with Registry.open(copy) as reg:
            bob = [reg.register("bob", artwork_png(400 + seed))["work_id"] for seed in range(3)]
    shutil.rmtree(copy / "index")
    shutil.copytree(original / "index", copy / "index")
    if not log_caught_up:
        with Registry.open(copy) as reg:
            bob = [reg.register("bob", artwork_png(400 + seed))["work_id"] for seed in range(3)]
    assert bob == ["w_4", "w_5", "w_6"]  # the ids the original gave to other pictures
    with Registry.open(copy) as reg:  # a later process, loading the saved index
        for seed, work_id in zip(range(3), bob, strict=True):
            assert reg.match_image(artwork_png(400 + seed), 3)["matches"][0]["work_id"] == work_id
        for seed in range(3, 7):  # registered in the original only
            assert reg.match_image(artwork_png(300 + seed), 3)["verdict"] != "match"
        live = reg.db.execute("SELECT id, sha256 FROM works WHERE status != 'withdrawn'").fetchall()
        assert reg.index.engine.keys() == {key for key, _ in live}
        assert all(reg.index.engine.sha256_of(key) == sha256 for key, sha256 in live)


def _race(*calls: Callable[[], dict]) -> list[dict]:
    """Run ``calls`` in threads released together; their results, or the first error raised."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # re-raised below, in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, Exception):
            raise r
    return results


def test_two_registries_on_one_directory_stay_in_step(tmp_path: Path) -> None:
    with Registry.open(tmp_path) as a, Registry.open(tmp_path) as b:
        work = a.register("alice", artwork_png(50))
        assert b.match_image(artwork_png(50))["matches"][0]["work_id"] == work["work_id"]
        assert b.register("mallory", near_copy(50))["status"] == "contested"
        b.withdraw(work["work_id"])
        assert work["work_id"] not in [m["work_id"] for m in a.match_image(artwork_png(50))["matches"]]


def test_conflicting_roles_are_refused(reg: Registry) -> None:
    reg.create_key("creator", "alice")
    with pytest.raises(Conflict):
        reg.create_key("platform", "alice")


def test_a_name_differing_only_in_case_is_refused_not_a_second_account(reg: Registry) -> None:
    reg.create_key("creator", "Alice")
    with pytest.raises(Conflict, match="only in letter case from the existing 'Alice'"):
        reg.create_key("creator", "alice")
    with pytest.raises(Conflict, match="'Alice'"):
        reg.register("ALICE", artwork_png(5), title="t")  # registering for a creator makes no twin
    assert reg.create_key("creator", "Alice")  # the account itself is unchanged
    assert reg.list_works(creator="ALICE")["works"] == []


def test_describe_turns_engine_matches_into_contract_objects(reg: Registry) -> None:
    a = reg.register("alice", artwork_png(60), title="A")
    b = reg.register("alice", artwork_png(61), title="B")
    reg.add_license(b["work_id"], "goodshop")
    reg.withdraw(a["work_id"])
    ka, kb = int(a["work_id"][2:]), int(b["work_id"][2:])
    matches = [
        Match(ka, 0.99, "match", "exact", (0, 0, 10, 10)),  # withdrawn: dropped
        Match(kb, 0.6, "review", "partial", (1, 2, 3, 4)),
        Match(10_000, 0.95, "match", "near", None),  # unknown key (a ghost): dropped
    ]
    described = reg.describe(matches, platform="etsy", seller="goodshop")
    assert described == [
        {
            "work_id": b["work_id"],
            "creator": "alice",
            "title": "B",
            "score": 0.6,
            "verdict": "review",
            "kind": "partial",
            "region": [1, 2, 3, 4],
            "licensed": True,
        }
    ]
    assert reg.describe([], platform=None, seller=None) == []
    assert reg.describe(matches[1:2], platform=None, seller=None)[0]["licensed"] is False


def test_a_contested_copy_takes_neither_the_match_nor_the_case_from_the_original(reg: Registry) -> None:
    original = (
        Path(__file__).resolve().parents[1] / "samples" / "works" / "06_stack_of_books_01.png"
    ).read_bytes()
    picture = Image.open(io.BytesIO(original)).convert("RGBA").convert("RGB")  # flattened, as copiers do
    prior = reg.register("alice", original)
    copy = reg.register("mallory", _jpeg(picture, 92))
    assert copy["status"] == "contested"
    found = reg.match_image(_jpeg(picture, 60), 5)["matches"]
    # The re-encoded copy is closer to a JPEG query; it used to explain the original away to `review`.
    assert {m["creator"]: m["verdict"] for m in found} == {"alice": "match", "mallory": "match"}
    listing = {"listing_id": "L1", "platform": "bazaar"}
    with reg.transaction() as conn:
        opened = [cases.record_hit(conn, match=m, listing=listing, evidence={}) for m in found]
    by_creator = {m["creator"]: case for m, case in zip(found, opened, strict=True)}
    assert by_creator["mallory"] is None  # a contested registration opens no takedown case
    assert by_creator["alice"] is not None and by_creator["alice"].work_id == prior["work_id"]


def test_a_work_shown_in_a_product_grid_is_matched_in_its_box(reg: Registry) -> None:
    """Through the registry: hashed (items included), searched, reported in page pixels."""
    work = reg.register("alice", imagegen.encode(imagegen.artwork(5)))
    page, boxes = imagegen.product_grid([imagegen.artwork(s) for s in (901, 902, 5, 903)], seed=6)
    [top] = reg.match_image(imagegen.encode(page, "JPEG", quality=85))["matches"]
    assert (top["work_id"], top["verdict"], top["kind"]) == (work["work_id"], "match", "partial")
    x, y, w, h = top["region"]
    bx, by, bw, bh = boxes[2]
    assert abs(x - bx) + abs(y - by) < 12 and abs(w - bw) + abs(h - bh) < 12, (top["region"], boxes[2])


def test_a_match_on_a_work_withdrawn_meanwhile_opens_no_case(reg: Registry) -> None:
    """A scan reads the works, then waits for the write lock; a withdrawal may commit in between."""
    work = reg.register("alice", artwork_png(61))
    [match] = reg.match_image(near_copy(61), 5)["matches"]
    reg.withdraw(work["work_id"])
    with reg.transaction() as conn:
        assert (
            cases.record_hit(conn, match=match, listing={"listing_id": "L", "platform": "p"}, evidence={})
            is None
        )


def _jpeg(picture: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_a_thread_that_ended_leaves_no_connection_open(tmp_path: Path) -> None:
    """Every thread that ever used the registry kept its SQLite connection, and two file handles,
    open until the registry closed: a server under load grew by ~22 handles every few minutes."""
    import os
    import threading

    with Registry.open(tmp_path / "data") as registry:
        registry.db.execute("SELECT 1")
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(30):
            worker = threading.Thread(target=lambda: registry.db.execute("SELECT count(*) FROM works"))
            worker.start()
            worker.join()
        registry.db.execute("SELECT 1")
        assert len(registry.connections()) <= 2  # this thread's and the last worker's
        assert len(os.listdir("/proc/self/fd")) <= before + 3
