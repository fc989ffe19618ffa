"""Schemathesis against /openapi.json of a live server: no generated request may produce a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from rights.api.app import create_app
from rights.config import Settings
from rights.registry import Registry
from tests.rights_support import artwork_png, live_server


@dataclass
class Target:
    url: str
    admin_key: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data: Path = tmp_path_factory.mktemp("schema")
    with Registry.open(data) as reg:
        admin = reg.create_key("admin", "root")
        for i in range(3):  # a few works and log entries, so ids like w_1 and small log indexes exist
            reg.register("alice", artwork_png(900 + i))
    with live_server(create_app(Settings(data=data, max_upload_bytes=2_000_000))) as url:
        yield Target(url, admin)


# Building the app reads no files (the registry opens in the lifespan), so the schema loads at import;
# the test then also checks that the live server serves this same document.
# Scans and cases (workers/) need a scan service and are fuzzed by their own tests.
schema = schemathesis.openapi.from_dict(create_app(Settings(data=Path("unused"))).openapi()).exclude(
    path_regex="^/v1/(scans|cases)"
)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case: schemathesis.Case, target: Target) -> None:
    # Authenticated as admin so generated requests get past auth into the handlers.
    headers = {"Authorization": f"Bearer {target.admin_key}"}
    case.call_and_validate(base_url=target.url, headers=headers, checks=[not_a_server_error], timeout=30)


def test_live_server_serves_the_fuzzed_schema_with_tags(target: Target) -> None:
    served = httpx.get(f"{target.url}/openapi.json", timeout=10).json()
    assert served == schema.raw_schema
    operations = [op for path in served["paths"].values() for op in path.values()]
    assert all(op.get("tags") for op in operations)
    assert "multipart/form-data" in served["paths"]["/v1/match"]["post"]["requestBody"]["content"]
    assert "application/json" in served["paths"]["/v1/match"]["post"]["requestBody"]["content"]
    error = served["paths"]["/v1/works"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
