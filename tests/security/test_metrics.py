"""The gateway's metrics are for the scraper, not for the internet: the public port answers
404 for ``/metrics`` (to anyone, signed in or not), and the metrics listen on a port of
their own (``PRM_METRICS_PORT``), which a Kubernetes deployment scrapes and never exposes
through its Service."""

from __future__ import annotations

import re

import requests

from tests.support.client import Client
from tests.support.stack import Stack


def test_the_public_port_does_not_serve_metrics(anonymous: Client, admin: Client) -> None:
    for client in (anonymous, admin):
        for path in ("/metrics", "/metrics/", "/api/v1/metrics"):
            response = client.get(path)
            assert response.status_code == 404, (path, response.text[:200])
            assert "prm_http_requests_total" not in response.text


def test_the_metrics_port_serves_every_workers_counts(stack: Stack, anonymous: Client) -> None:
    for _ in range(8):  # with two workers, both are likely to answer some
        assert anonymous.get("/healthz").status_code == 200
    response = requests.get(stack.metrics_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    counts = re.findall(
        r'^prm_http_requests_total\{[^}]*endpoint="/healthz"[^}]*\} ([0-9.]+)$',
        response.text,
        re.MULTILINE,
    )
    assert counts and sum(float(c) for c in counts) >= 8, response.text[:2000]
