"""``/docs`` asks nothing of another origin: every file the page loads is the gateway's
own, and its Content-Security-Policy lets the browser fetch from nowhere else."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask import Flask

from gateway.app import create_app


class StubRpc:
    def call(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the docs page calls no service")


def app() -> Flask:
    return create_app(rpc=StubRpc())


class References(HTMLParser):
    """Every URL an HTML page makes the browser load."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("src", "href"):
                self.urls.append(value)


def references(page: str) -> list[str]:
    parser = References()
    parser.feed(page)
    return parser.urls


def test_docs_page_loads_only_files_the_gateway_serves() -> None:
    client = app().test_client()
    page = client.get("/docs")
    assert page.status_code == 200

    urls = [urljoin("http://gateway.test/docs", url) for url in references(page.text)]
    assert len(urls) >= 3  # Swagger UI's style sheet and two scripts
    assert [url for url in urls if urlsplit(url).netloc != "gateway.test"] == []
    for url in urls:
        answer = client.get(urlsplit(url).path)
        assert answer.status_code == 200, url
        assert len(answer.data) > 1000, url


def test_docs_page_names_no_other_origin() -> None:
    page = app().test_client().get("/docs").text

    # The start-up script and its configuration included: no validator, no CDN.
    assert re.findall(r"https?://[^\s\"'<>]+", page) == []
    assert '"validatorUrl": null' in page


def test_docs_page_policy_allows_its_own_origin_and_start_up_script_only() -> None:
    response = app().test_client().get("/docs")
    directives = response.headers["Content-Security-Policy"].split(";")
    policy = dict(directive.strip().partition(" ")[::2] for directive in directives)

    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    scripts = policy["script-src"].split()
    assert scripts[0] == "'self'"
    assert len(scripts) == 2 and scripts[1].startswith("'sha256-")  # the one inline script
    assert "'unsafe-inline'" not in scripts
    for directive in ("style-src", "img-src"):
        assert "http" not in policy[directive], directive


def test_redoc_and_rapidoc_pages_are_not_served() -> None:
    # Such a path is the web console's to answer (its own "no such page"), never a page
    # of another documentation renderer.
    client = app().test_client()
    for path in ("/redoc", "/rapidoc"):
        answer = client.get(path)
        assert answer.status_code in (200, 503), path
        assert b"redoc" not in answer.data.lower() and b"rapidoc" not in answer.data.lower()


def test_assets_path_serves_files_only_from_the_distribution() -> None:
    client = app().test_client()
    assert client.get("/docs/assets/../app.py").status_code == 404
    assert client.get("/docs/assets/%2e%2e/app.py").status_code == 404
