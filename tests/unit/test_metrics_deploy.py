"""The gateway's metrics are scraped on a port of their own, which no Service, published
port or public route carries."""

from __future__ import annotations

import pytest

from tests.support.deploy_files import environment, load_compose, named, pod_spec, render_k8s


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render_k8s()


def test_k8s_scrapes_the_gateways_metrics_port_and_its_service_leaves_it_out(
    rendered: list[dict],
) -> None:
    gateway = named(rendered, "Deployment", "gateway")
    (container,) = pod_spec(gateway)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert ports["metrics"] == int(env["PRM_METRICS_PORT"]) != ports["http"]
    assert env["PRM_METRICS_HOST"] == "0.0.0.0"
    # The root filesystem is read-only: the workers' counts go to a mounted volume.
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    assert any(env["PROMETHEUS_MULTIPROC_DIR"].startswith(f"{m}/") for m in mounts)
    annotations = gateway["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]

    service = named(rendered, "Service", "gateway")
    targets = {p["targetPort"] for p in service["spec"]["ports"]}
    assert targets.isdisjoint({"metrics", ports["metrics"]})


def test_compose_does_not_publish_the_metrics_port(
    compose: dict,
) -> None:
    gateway = compose["services"]["gateway"]
    port = environment(gateway)["PRM_METRICS_PORT"]
    assert port != environment(gateway).get("PORT", "8000")
    assert all(port not in str(published) for published in gateway.get("ports", []))
