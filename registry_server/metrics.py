"""Prometheus metrics of one server process: request counts and latencies per route, uploads."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """The metric families of one application (own registry: several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "memstore_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "memstore_http_request_duration_seconds",
            "Time to the response's first byte, by route template.",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.uploaded_bytes = Counter(
            "memstore_blob_upload_bytes", "Blob bytes accepted.", registry=self.registry
        )
        self.publishes = Counter(
            "memstore_publishes", "Versions published (new ones only).", registry=self.registry
        )


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task like BaseHTTPMiddleware) timing every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route: Any = scope.get("route")
                template = getattr(route, "path", "unmatched")
                self.metrics.latency.labels(template).observe(time.perf_counter() - start)
                self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            await send(message)

        await self.app(scope, receive, send_wrapper)
