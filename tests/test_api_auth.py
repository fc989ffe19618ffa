"""The authorisation matrix of every route, through the real app (TestClient) and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rights.api.app import create_app
from rights.config import Settings
from rights.registry import Registry
from tests.rights_support import TestClient, artwork_png, near_copy


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    works: dict[str, str]  # name -> work_id

    def headers(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        if who == "forged":
            return {"Authorization": "Bearer rk_" + "x" * 43}
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("auth")
    with Registry.open(data) as reg:
        keys = {
            "admin": reg.create_key("admin", "root"),
            "alice": reg.create_key("creator", "alice"),
            "bob": reg.create_key("creator", "bob"),
            "shop": reg.create_key("platform", "shop"),
        }
        works = {f"{owner}{i}": reg.register(owner, artwork_png(100 + 10 * n + i))["work_id"]
                 for n, owner in enumerate(("alice", "bob")) for i in range(4)}  # fmt: skip
    with TestClient(create_app(Settings(data=data))) as client:
        yield World(client, keys, works)


def _image(seed: int) -> dict[str, tuple[str, bytes, str]]:
    return {"image": ("art.png", artwork_png(seed), "image/png")}


# (caller, method, path template, body kind, expected status). {a}/{b} are alice's/bob's works.
MATRIX = [
    # registering
    ("anonymous", "POST", "/v1/works", "upload", 401),
    ("forged", "POST", "/v1/works", "upload", 401),
    ("shop", "POST", "/v1/works", "upload", 403),
    ("alice", "POST", "/v1/works", "upload", 201),
    ("alice", "POST", "/v1/works", "upload-for-bob", 403),
    ("admin", "POST", "/v1/works", "upload-for-bob", 201),
    # reading
    ("anonymous", "GET", "/v1/works/{a0}", None, 401),
    ("alice", "GET", "/v1/works/{a0}", None, 200),
    ("alice", "GET", "/v1/works/{b0}", None, 403),
    ("alice", "GET", "/v1/works/{a0}/receipt", None, 200),
    ("alice", "GET", "/v1/works/{b0}/receipt", None, 403),
    ("shop", "GET", "/v1/works/{a0}", None, 200),
    ("admin", "GET", "/v1/works/{b0}", None, 200),
    ("alice", "GET", "/v1/works/w_999999", None, 404),
    # listing
    ("anonymous", "GET", "/v1/works", None, 401),
    ("alice", "GET", "/v1/works", None, 200),
    ("alice", "GET", "/v1/works?creator=bob", None, 403),
    ("shop", "GET", "/v1/works", None, 403),
    ("admin", "GET", "/v1/works?creator=bob", None, 200),
    # licences
    ("anonymous", "POST", "/v1/works/{a0}/licenses", "license", 401),
    ("alice", "POST", "/v1/works/{a0}/licenses", "license", 201),
    ("alice", "POST", "/v1/works/{b0}/licenses", "license", 403),
    ("shop", "POST", "/v1/works/{a0}/licenses", "license", 403),
    ("admin", "POST", "/v1/works/{b0}/licenses", "license", 201),
    ("alice", "GET", "/v1/works/{a0}/licenses", None, 200),
    ("bob", "GET", "/v1/works/{a0}/licenses", None, 403),
    ("shop", "GET", "/v1/works/{a0}/licenses", None, 403),
    # matching
    ("anonymous", "POST", "/v1/match", "query", 401),
    ("shop", "POST", "/v1/match", "query", 200),
    ("alice", "POST", "/v1/match", "query", 200),
    ("admin", "POST", "/v1/match", "query", 200),
    # withdrawing
    ("anonymous", "DELETE", "/v1/works/{a1}", None, 401),
    ("bob", "DELETE", "/v1/works/{a1}", None, 403),
    ("shop", "DELETE", "/v1/works/{a1}", None, 403),
    ("alice", "DELETE", "/v1/works/{a1}", None, 204),
    ("admin", "DELETE", "/v1/works/{b1}", None, 204),
    # the rights holder's profile (its own tests: test_profiles.py)
    ("anonymous", "GET", "/v1/profile", None, 401),
    ("anonymous", "PUT", "/v1/profile", "profile", 401),
    ("alice", "PUT", "/v1/profile", "profile", 200),
    ("alice", "GET", "/v1/profile?account=bob", None, 403),
    ("shop", "GET", "/v1/profile", None, 403),
    ("shop", "PUT", "/v1/profile", "profile", 403),
    ("admin", "PUT", "/v1/profile?account=bob", "profile", 200),
    # PDQ hash lists (their own tests: test_hash_lists.py)
    ("anonymous", "GET", "/v1/hashes", None, 401),
    ("anonymous", "POST", "/v1/hashes/match", "hashes", 401),
    ("alice", "GET", "/v1/hashes", None, 200),
    ("alice", "GET", "/v1/hashes?creator=bob", None, 403),
    ("shop", "GET", "/v1/hashes?creator=bob", None, 200),
    ("shop", "POST", "/v1/hashes/match", "hashes", 200),
    ("alice", "POST", "/v1/hashes/match", "hashes", 200),
    # public
    ("anonymous", "GET", "/healthz", None, 200),
    ("anonymous", "HEAD", "/healthz", None, 200),
    ("anonymous", "GET", "/v1/log/checkpoint", None, 200),
    ("anonymous", "GET", "/v1/log/entries?start=0&end=3", None, 200),
    ("anonymous", "GET", "/v1/log/proof/inclusion?index=1", None, 200),
    ("anonymous", "GET", "/v1/log/proof/consistency?first=2", None, 200),
    ("anonymous", "GET", "/openapi.json", None, 200),
    ("anonymous", "GET", "/metrics", None, 200),
]


@pytest.mark.parametrize(("who", "method", "path", "body", "expected"), MATRIX)
def test_authorisation_matrix(
    world: World, who: str, method: str, path: str, body: str | None, expected: int
) -> None:
    url = path.format(a0=world.works["alice0"], a1=world.works["alice1"], b0=world.works["bob0"],
                      b1=world.works["bob1"])  # fmt: skip
    kwargs: dict = {"headers": world.headers(who)}
    seed = 500 + MATRIX.index((who, method, path, body, expected))
    if body == "upload":
        kwargs["files"] = _image(seed)
    elif body == "upload-for-bob":
        kwargs["files"] = _image(seed)
        kwargs["data"] = {"creator": "bob"}
    elif body == "license":
        kwargs["json"] = {"licensee": "printshop", "platform": "etsy"}
    elif body == "profile":
        kwargs["json"] = {"legal_name": "A. Example Ltd", "contact": "legal@example.org"}
    elif body == "hashes":
        kwargs["json"] = {"hashes": ["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"]}
    elif body == "query":
        kwargs["files"] = {"image": ("q.jpg", near_copy(100), "image/jpeg")}
    response = world.client.request(method, url, **kwargs)
    assert response.status_code == expected, response.text
    if expected >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]
    if body == "upload-for-bob" and expected == 201:
        assert response.json()["creator"] == "bob"


def test_creator_listing_shows_only_own_works(world: World) -> None:
    page = world.client.get("/v1/works?limit=100", headers=world.headers("alice")).json()
    assert page["works"] and {w["creator"] for w in page["works"]} == {"alice"}


def test_platform_caller_is_its_own_platform_for_licences(world: World) -> None:
    alice, shop = world.headers("alice"), world.headers("shop")
    work = world.works["alice2"]
    query = {"image": ("q.jpg", near_copy(102), "image/jpeg")}

    def licensed(**params: str) -> bool:
        answer = world.client.post("/v1/match", headers=shop, files=query, params=params).json()
        return next(m["licensed"] for m in answer["matches"] if m["work_id"] == work)

    assert not licensed(seller="goodshop")
    world.client.post(
        f"/v1/works/{work}/licenses", headers=alice, json={"licensee": "goodshop", "platform": "shop"}
    )
    assert licensed(seller="goodshop")
    # A platform cannot claim to be another platform to borrow its licences.
    world.client.post(
        f"/v1/works/{work}/licenses", headers=alice, json={"licensee": "other", "platform": "etsy"}
    )
    assert not licensed(seller="other", platform="etsy")


def test_a_creator_learns_licences_of_its_own_works_only(world: World) -> None:
    """Licences are the owner's business (bob gets 403 on alice's): naming a seller and platform
    in a match told any creator who holds a licence to anyone's work."""
    work = world.works["alice3"]
    world.client.post(
        f"/v1/works/{work}/licenses",
        headers=world.headers("alice"),
        json={"licensee": "fan", "platform": "p"},
    )
    query = {"image": ("q.jpg", near_copy(103), "image/jpeg")}

    def licensed(who: str) -> bool:
        answer = world.client.post(
            "/v1/match", headers=world.headers(who), files=query, params={"seller": "fan", "platform": "p"}
        ).json()
        return next(m["licensed"] for m in answer["matches"] if m["work_id"] == work)

    assert licensed("alice") and licensed("admin")
    assert not licensed("bob")


def test_unknown_methods_cannot_grow_the_metrics(tmp_path: Path) -> None:
    """Each method name was a label of its own: anyone could add series without bound (an audit made
    /metrics 54 MB with 3,000 anonymous requests)."""
    with TestClient(create_app(Settings(data=tmp_path))) as client:
        before = len(client.get("/metrics").text)
        for n in range(50):
            assert client.request(f"X{n:04d}{'ab' * 100}", "/healthz").status_code == 405
        text = client.get("/metrics").text
    assert "X0001" not in text and 'method="OTHER",route="/healthz",status="405"} 50.0' in text
    assert len(text) < before + 5_000


def test_metrics_want_the_configured_token(tmp_path: Path) -> None:
    token = "scrape-" + "x" * 20
    with TestClient(create_app(Settings(data=tmp_path, metrics_token=token))) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json()["error"]["code"] == "unauthorized"
            assert answer.headers["WWW-Authenticate"] == "Bearer"
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and "rights_works_indexed 0.0" in answer.text
        assert client.get("/healthz").status_code == 200  # still public
    with pytest.raises(ValueError, match="at least 16"):
        Settings(data=tmp_path, metrics_token="short")
