"""A small HTTP client for the gateway, as a user would use it."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import requests

#: Every credential this run's clients sent or received (passwords, access and refresh
#: tokens): none may appear in any log of the stack (``fixtures.stack`` checks at its end).
SECRETS_SEEN: set[str] = set()
_SECRET_FIELDS = ("password", "current_password", "new_password", "access_token", "refresh_token")


def _remember_secrets(data: Any) -> None:
    if isinstance(data, dict):
        for name in _SECRET_FIELDS:
            value = data.get(name)
            if isinstance(value, str) and len(value) >= 8:
                SECRETS_SEEN.add(value)


def unique(prefix: str = "t") -> str:
    """A short unique name, so tests sharing one stack never collide."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Client:
    """Requests against the gateway, signed in as one user (or anonymous)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})  # the caller's dict stays as it was
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("timeout", 30)
        _remember_secrets(kwargs.get("json"))
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, headers=headers, **kwargs)
        except requests.ConnectionError as exc:
            # A kept-alive connection the server closed while idle (the tests' process is
            # monkey-patched, so urllib3 does not always see the close before reusing it):
            # nothing reached the server; send again on a new connection.
            if "RemoteDisconnected" not in str(exc):
                raise
            self.session.close()
            response = self.session.request(method, url, headers=headers, **kwargs)
        if path.startswith("/api/v1/auth"):
            with contextlib.suppress(ValueError):
                _remember_secrets(response.json())
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def login(self, username: str, password: str) -> Client:
        """A client signed in as ``username``; fails the test if sign-in fails."""
        response = self.post("/api/v1/auth/login", {"username": username, "password": password})
        assert response.status_code == 200, response.text
        return Client(self.base_url, response.json()["access_token"])
