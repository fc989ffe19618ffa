"""Prometheus metrics, one registry per app (so several apps in one process never collide).

Requests are labelled by route *template* (``/v1/works/{work_id}``), never by raw path, and by method
among the standard ones, to keep the label set small: unmatched paths share one label, unknown methods
another, so no caller can add series without bound.
"""

from __future__ import annotations

import hmac
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rights.api.errors import error_response
from rights.errors import Unauthorized
from rights.registry import Registry

# Methods kept as their own label; any other (HTTP allows any token, and each new one would add a
# series that is never dropped, to memory and to every scrape) is counted as "OTHER".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Fingerprinting a 1-4 MP upload takes 50-300 ms on one core; the buckets resolve that range.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, token: str | None = None) -> None:
        self.token = token  # ``Settings.metrics_token``: None serves the metrics to anyone
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rights_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "rights_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.works_indexed = Gauge("rights_works_indexed", "works in the match index", registry=self.registry)

    def bind(self, registry: Registry) -> None:
        self.works_indexed.set_function(lambda: len(registry.engine))

    async def endpoint(self, request: Request) -> Response:
        if self.token is not None:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {self.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                message = "the metrics want the bearer token set in RIGHTS_METRICS_TOKEN"
                return error_response(401, Unauthorized.code, message)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Pure ASGI (no body buffering), counts every HTTP request including errors."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            method = method if method in KNOWN_METHODS else "OTHER"
            self.metrics.requests.labels(method, label, str(status)).inc()
            self.metrics.latency.labels(method, label).observe(time.perf_counter() - started)
