"""The gateway's route table, read from a Flask app without any service running."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Flask


def routes_of(app: Flask) -> set[tuple[str, str]]:
    """Every (method, rule) the app serves, HEAD, OPTIONS and static files left out."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def views_of(app: Flask) -> Iterator[tuple[str, Callable]]:
    """Each rule (static files left out) with its view function, as the app calls it."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            yield rule.rule, app.view_functions[rule.endpoint]
