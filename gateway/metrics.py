"""Prometheus metrics of the gateway, served on a port of their own, never the public one.

gunicorn's workers count into ``PROMETHEUS_MULTIPROC_DIR`` (one file per worker); the
master serves the sum of them on ``PRM_METRICS_PORT`` (``gateway/gunicorn.conf.py``), so
that a scrape sees every worker, not whichever one the connection reached.
"""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)

REQUESTS = Counter("prm_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "prm_http_request_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_LATENCY = Histogram(
    "prm_rpc_call_seconds",
    "RPC round trip from the gateway",
    ["service", "method", "outcome"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CALLERS = Counter(
    "prm_gateway_callers_total",
    "Callers resolved per request: kept (hit), asked of partners (resolved), or asked"
    " because the worker is not listening to partners' changes (bypass)",
    ["outcome"],
)


def serve_metrics(port: int, host: str) -> None:
    """Serve the metrics on ``host:port`` from a thread of this process: every worker's
    when ``PROMETHEUS_MULTIPROC_DIR`` is set, this process's own otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    start_http_server(port, addr=host, registry=registry)
