"""The gateway serves the web console's built files at ``/`` (``gateway/console.py``): the
page for every path the console's router knows, its hashed assets cached for good, and
never a page where the API or the operators' endpoints answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from gateway.app import create_app
from gateway.console import POLICY

INDEX = "<!doctype html><html><body><div id=app></div><script src=/assets/index-abc123.js></script>"


class StubRpc:
    def call(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the console's files call no service")


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('console')")
    (tmp_path / "sizes.json").write_text("{}")
    monkeypatch.setenv("PRM_CONSOLE_DIR", str(tmp_path))
    return tmp_path


def app() -> Flask:
    return create_app(rpc=StubRpc())


@pytest.mark.parametrize("path", ["/", "/customers", "/customers/12", "/orders/new", "/login"])
def test_every_page_of_the_console_is_its_index_never_cached(built: Path, path: str) -> None:
    answer = app().test_client().get(path)
    assert answer.status_code == 200
    assert answer.data.decode() == INDEX
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["Content-Security-Policy"] == POLICY


def test_hashed_assets_are_cached_for_a_year(built: Path) -> None:
    answer = app().test_client().get("/assets/index-abc123.js")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_missing_file_is_a_404_not_the_page(built: Path) -> None:
    client = app().test_client()
    assert client.get("/assets/index-gone.js").status_code == 404
    assert client.get("/favicon.ico").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../../pyproject.toml",
        "/assets/%2e%2e/%2e%2e/pyproject.toml",
        "/..%2fgateway/app.py",
    ],
)
def test_nothing_outside_the_built_files_is_served(built: Path, path: str) -> None:
    answer = app().test_client().get(path)
    assert b"[project]" not in answer.data and b"create_app" not in answer.data


def test_the_api_s_unknown_paths_stay_problem_json_404(built: Path) -> None:
    answer = app().test_client().get("/api/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.get_json()["code"] == "not_found"


def test_an_api_path_asked_with_another_method_stays_a_405(built: Path) -> None:
    answer = app().test_client().get("/api/v1/auth/login")
    assert answer.status_code == 405
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_the_operators_endpoints_are_never_the_console(built: Path) -> None:
    client = app().test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/openapi.json").get_json()["openapi"].startswith("3.")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics/x").status_code == 404


def test_without_a_build_the_root_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRM_CONSOLE_DIR", str(tmp_path / "nothing"))
    answer = app().test_client().get("/")
    assert answer.status_code == 503
    assert b"make console" in answer.data


@pytest.mark.parametrize("path", ["/assets/../index.html", "/assets/%2e%2e/index.html"])
def test_a_dotted_path_is_never_cached_as_an_asset(built: Path, path: str) -> None:
    answer = app().test_client().get(path)
    assert answer.status_code == 404
    assert "immutable" not in answer.headers.get("Cache-Control", "")


@pytest.mark.parametrize("path", ["/api", "/API/v1/me", "/Api/v1/customers"])
def test_the_api_s_paths_in_any_case_are_never_the_console(built: Path, path: str) -> None:
    answer = app().test_client().get(path)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_the_console_s_files_are_never_sniffed(built: Path) -> None:
    client = app().test_client()
    for path in ("/", "/customers", "/assets/index-abc123.js", "/sizes.json"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff", path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/partners/0/suspend"),
        ("PATCH", "/api/v1/users/-1"),
        ("DELETE", "/api/v1/notification-channels/0"),
        ("POST", "/api/v1/pool/-1/claim"),
        ("PUT", "/api/v1/no-such-thing"),
    ],
)
def test_an_api_path_no_route_takes_stays_a_404_whatever_the_method(
    built: Path, method: str, path: str
) -> None:
    # The console's route took every path for GET, which made these a 405.
    answer = app().test_client().open(path, method=method)
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "not_found"
