"""Webhooks may not be aimed at the platform's own network."""

from __future__ import annotations

import pytest

from services.notify.targets import is_public, webhook_target_problem


def resolving_to(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def unresolvable(host: str, port: int) -> list[str]:
    raise OSError("no such host")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "240.0.0.1",  # reserved
        "224.0.0.1",  # multicast
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_loopback_private_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    assert not is_public(address)
    problem = webhook_target_problem("https://hooks.example.com/x", False, resolving_to(address))
    assert problem is not None and "private" in problem


def test_public_address_is_allowed() -> None:
    assert is_public("93.184.216.34")
    assert (
        webhook_target_problem("https://hooks.example.com/x", False, resolving_to("8.8.8.8"))
        is None
    )


def test_a_name_resolving_to_one_private_address_among_public_ones_is_refused() -> None:
    resolve = resolving_to("8.8.8.8", "10.0.0.5")
    assert webhook_target_problem("https://mixed.example.com/", False, resolve) is not None


def test_only_http_and_https_are_accepted() -> None:
    for url in ("ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/"):
        assert webhook_target_problem(url, True, resolving_to("8.8.8.8")) is not None


def test_a_host_that_does_not_resolve_is_refused() -> None:
    assert webhook_target_problem("https://nowhere.invalid/", False, unresolvable) == (
        "the host does not resolve"
    )


def test_configuration_may_allow_private_targets() -> None:
    assert webhook_target_problem("http://127.0.0.1:8080/hook", True, unresolvable) is None


def test_literal_loopback_is_refused_with_the_real_resolver() -> None:
    assert webhook_target_problem("http://127.0.0.1:9/hook", False) is not None
    assert webhook_target_problem("http://[::1]:9/hook", False) is not None
