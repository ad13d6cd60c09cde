"""IPv6 forms that lead to the platform's own network are not public webhook targets.

An IPv6 literal can carry an IPv4 address to a translator (IPv4-mapped, NAT64, 6to4), or
lie in a range no internet host has (IPv4-compatible, site-local, Teredo, local-use NAT64).
"""

from __future__ import annotations

import pytest

from services.notify.targets import is_public, webhook_target_problem

NOT_PUBLIC = [
    "::127.0.0.1",  # IPv4-compatible (deprecated), loopback inside
    "::10.0.0.1",
    "::8.8.8.8",  # IPv4-compatible is never routed as IPv4, whatever it carries
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:0:127.0.0.1",  # IPv4-translated (RFC 2765)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of the cloud metadata address
    "64:ff9b::127.0.0.1",  # NAT64 well-known prefix
    "64:ff9b::10.1.2.3",
    "64:ff9b::169.254.169.254",
    "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
    "64:ff9b:1::808:808",
    "fec0::1",  # site-local (deprecated)
    "fec0:0:0:ffff::1",
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",  # documentation
    "3fff::1",  # documentation (RFC 9637)
    "100::1",  # discard-only
    "5f00::1",  # SRv6 segment identifiers
    "fc00::1",  # unique local
    "fe80::1%eth0",  # link-local with a zone
    "ff02::1",  # multicast
    "::",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_transition_and_special_ipv6_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_a_webhook_url_with_such_a_literal_is_refused(address: str) -> None:
    host = address.split("%", 1)[0]
    assert webhook_target_problem(f"https://[{host}]:8443/hook", False) is not None
    # Configuration that allows private receivers (tests, on-premise) still takes them.
    assert webhook_target_problem(f"https://[{host}]:8443/hook", True) is None


@pytest.mark.parametrize(
    "address",
    [
        "2606:4700:4700::1111",  # a global unicast host
        "2400:3200::1",
        "64:ff9b::8.8.8.8",  # NAT64 of a public IPv4 host (DNS64 answers these)
        "2002:808:808::1",  # 6to4 of a public IPv4 host
        "::ffff:8.8.8.8",
        "8.8.8.8",
    ],
)
def test_global_addresses_and_translations_of_public_ipv4_stay_public(address: str) -> None:
    assert is_public(address)
