"""The HTTP API, built by :func:`create_app` (no import-time globals, so tests make as many as they like)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from indexes import one_image_thread
from indexes.fingerprint_pool import FingerprintPool
from rights.api.errors import install_error_handler
from rights.api.limits import FORM_OVERHEAD_BYTES, BodyLimitMiddleware
from rights.api.metrics import Metrics, MetricsMiddleware
from rights.api.query import EmptyQueryMiddleware
from rights.api.routes import hashes, health, licenses, log, match, profile, works
from rights.config import Settings, get_settings
from rights.registry import Registry
from rights.scans import FEEDS_DIRNAME

# Routers owned by workers/ (scans and cases); included when present.
OPTIONAL_ROUTERS = ("rights.api.routes.scans", "rights.api.routes.cases")

TAGS = [
    {"name": "works", "description": "Register, read, list and withdraw works."},
    {"name": "licenses", "description": "Licences that make a match `licensed`."},
    {"name": "match", "description": "Find registered works in an image."},
    {"name": "scans", "description": "Batch scans of marketplace listing feeds."},
    {"name": "cases", "description": "Infringement cases and takedown notices."},
    {"name": "profile", "description": "The rights holder's legal name and contact details for notices."},
    {"name": "log", "description": "The public, signed transparency log and its proofs."},
    {"name": "health", "description": "Liveness."},
]


def create_app(settings: Settings | None = None, *, scan_service: object | None = None) -> FastAPI:
    """The API over the data directory in ``settings`` (default: :func:`get_settings`).

    The registry opens in the lifespan, so building the app is cheap and touches no files. ``scan_service``
    is kept on ``app.state`` for the scan routes; the lifespan resumes its unfinished scans at start and
    closes it at shutdown, before the registry (uvicorn ends a SIGTERM'd process right after the lifespan,
    so code after ``serve()`` would never run and its worker processes would be left behind).
    """
    settings = settings or get_settings()
    metrics = Metrics(settings.metrics_token)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Concurrent requests are the parallelism: OpenCV gets one thread per request.
        one_image_thread()
        async with AsyncExitStack() as stack:
            registry = await run_in_threadpool(Registry.open, settings)
            stack.callback(registry.close)
            pool = _fingerprint_pool(settings)
            if pool is not None:
                stack.callback(pool.close)
                await run_in_threadpool(pool.warm_up)
                registry.fingerprinter = pool.fingerprint
            app.state.registry = registry
            # Made here, in the serving event loop, which it then belongs to.
            app.state.fetch_slots = asyncio.Semaphore(settings.fetch_concurrency)
            metrics.bind(registry)
            close = getattr(scan_service, "close", None)
            if close is not None:
                stack.push_async_callback(run_in_threadpool, close)  # runs before registry.close
            resume = getattr(scan_service, "resume_unfinished", None)
            if resume is not None:
                # Scans a previous server left queued or running pick up where they stopped.
                await run_in_threadpool(resume, registry, Path(settings.data) / FEEDS_DIRNAME)
            yield

    app = FastAPI(
        title="Rights registry",
        version="1.0.0",
        summary="Creator rights registry and piracy detector",
        description=(
            "Register artworks, find copies of them in images and marketplace listings, and prove "
            "registrations with a signed transparency log. Authenticate with `Authorization: Bearer <key>`."
        ),
        openapi_tags=TAGS,
        lifespan=lifespan,
        # "/v1/works/" is not a route: a 404, not a redirect built from the request's Host header.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.scan_service = scan_service
    app.state.metrics = metrics
    install_error_handler(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_upload_bytes + FORM_OVERHEAD_BYTES)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(EmptyQueryMiddleware)
    for module in (health, works, licenses, match, hashes, profile, log):
        app.include_router(module.router)
    for name in OPTIONAL_ROUTERS:
        try:
            optional = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.include_router(optional.router)
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _fingerprint_pool(settings: Settings) -> FingerprintPool | None:
    processes = settings.fingerprint_workers()
    return FingerprintPool(processes, inline_when_idle=True) if processes > 0 else None


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with its default 422 body replaced by the contract's error shape."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": responses["422"].get("description", "Validation Error"),
                    "content": {"application/json": {"schema": error_ref}},
                }
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    if "ErrorBody" not in components:
        components["ErrorBody"] = {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
    app.openapi_schema = schema
    return schema
