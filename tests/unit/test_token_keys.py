"""Tokens are signed and verified with a key checked once per key, not once per token:
an asymmetric key is still refused as an HMAC secret, every time, and a token signed with
another key still fails."""

from __future__ import annotations

import jwt
import pytest

import services.common.context  # noqa: F401 - registers the project's HS256

PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"


def test_an_asymmetric_key_is_refused_each_time_it_is_used() -> None:
    for _ in range(2):
        with pytest.raises(jwt.InvalidKeyError):
            jwt.encode({"a": 1}, PEM, algorithm="HS256")


def test_a_token_verifies_with_its_key_only_however_often_keys_are_used() -> None:
    mine, other = "k" * 40, "o" * 40
    token = jwt.encode({"a": 1}, mine, algorithm="HS256")
    for _ in range(3):
        assert jwt.decode(token, mine, algorithms=["HS256"]) == {"a": 1}
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, other, algorithms=["HS256"])


def test_the_registered_algorithm_is_the_projects() -> None:
    algorithm = jwt.get_algorithm_by_name("HS256")
    assert type(algorithm).__name__ == "_KeyCheckedOnce"
