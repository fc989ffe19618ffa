"""Service settings, read once per process through :func:`get_settings`.

Tests build their own :class:`Settings` and hand it to ``create_app`` or ``Registry.open``;
nothing reads settings at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

DEFAULT_DATA_DIR = Path("rights-data")

# 25 MiB covers any real artwork upload; bigger bodies are refused with 413 before decoding.
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024


class Settings(BaseSettings):
    """Every tunable of the service. Environment variables use the ``RIGHTS_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="RIGHTS_", extra="ignore")

    data: Path = Field(
        default=DEFAULT_DATA_DIR, description="data directory (database, index, keys, originals)"
    )
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1)
    # URL fetching (API `{"url": ...}` and scan feeds).
    fetch_timeout_s: float = Field(default=10.0, gt=0)  # to connect, and between two reads
    fetch_deadline_s: float = Field(default=30.0, gt=0)  # the whole fetch: redirects, retries and body
    # URL matches fetching at once in the API server; more wait their turn without holding one of the
    # server's worker threads, so slow image hosts cannot take every thread (and /healthz) with them.
    fetch_concurrency: int = Field(default=8, ge=1)
    fetch_max_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1)
    fetch_max_redirects: int = Field(default=3, ge=0)
    # Hosts or CIDRs that may be fetched although private/loopback (e.g. "127.0.0.1/32" in tests).
    fetch_allow: list[str] = Field(default_factory=list)

    @field_validator("fetch_allow")
    @classmethod
    def _networks_parse(cls, entries: list[str]) -> list[str]:
        # A host name has no "/": an entry with one that is no network (``127.0.0.1/33``) was taken
        # for a host name, so the network it meant stayed refused without a word.
        for entry in entries:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is neither a host name nor a network ({exc})") from None
        return entries

    # The first line of every signed checkpoint: names this log, for its whole life.
    log_origin: str = Field(default="rights-registry", min_length=1, max_length=200, pattern=r"^[^\r\n]+$")
    # Worker processes that fingerprint uploads (API server) and files (bulk `register`); None: one
    # per available core, 0: in the calling threads (PDQ holds the GIL, so threads hash one at a time).
    fingerprint_processes: int | None = Field(default=None, ge=0)
    # ORB features indexed per work (FAISS holds ~40 bytes each). None: the engine's default
    # (384), or whatever the saved index was built with. A million works fit in 8 GiB at 128-144,
    # at a cost in recall measured in BENCHMARKS.md. Changing it rebuilds the index at the next open.
    features_per_work: int | None = Field(default=None, ge=32, le=1024)
    # Keep each work's descriptors too (32 more bytes per feature, in a memory-mapped file) to find
    # copies that other works' features crowd out of the index (``Engine(exclusive_placements=...)``).
    # Off keeps none and finds fewer copies; turning it back on rebuilds the index at the next open.
    exclusive_placements: bool = True
    # When set, ``GET /metrics`` wants ``Authorization: Bearer <this>`` (Prometheus' ``bearer_token``
    # scrape option): request counts and latencies by route are not for everyone on the internet.
    metrics_token: str | None = Field(default=None, min_length=16)

    def fingerprint_workers(self) -> int:
        """``fingerprint_processes`` with "one per available core" resolved."""
        # Imported here: importing ``indexes`` loads FAISS and OpenCV (~0.35 s), which commands
        # that only read settings (keys, log verify) should not pay for.
        from indexes.cpu import available_cores

        return available_cores() if self.fingerprint_processes is None else self.fingerprint_processes


class SettingsError(ValueError):
    """A ``RIGHTS_*`` environment variable holds a value the service cannot use."""


def load_settings(**values: object) -> Settings:
    """:class:`Settings` from the environment (``values`` override it), with any invalid
    variable named in one line rather than a validation traceback."""
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"RIGHTS_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']} "
            f"(got {error['input']!r})"
            for error in exc.errors()
        )
        raise SettingsError(problems) from None
    except PydanticSettingsError as exc:  # a list setting that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"RIGHTS_{field.group(1).upper()}" if field else "a RIGHTS_* list setting"
        raise SettingsError(
            f"{name}: not a JSON list (got {os.environ.get(name)!r}); "
            f"write it as JSON, e.g. {name}='[\"127.0.0.1/32\"]'"
        ) from None


def resolve_data_dir(cli_value: str | Path | None) -> Path:
    """``--data DIR``, else ``$RIGHTS_DATA``, else ``./rights-data`` (the contract's order).

    Raises :class:`SettingsError` when the path, or a folder above it, is a file."""
    if isinstance(cli_value, str) and not cli_value.strip():
        raise SettingsError("--data is empty; give a folder")  # it fell back to the default quietly
    env = os.environ.get("RIGHTS_DATA")
    path = Path(cli_value) if cli_value else Path(env) if env else DEFAULT_DATA_DIR
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise SettingsError(f"data directory {path}: {part} is a file, not a folder")
            break
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
