"""A partner admin registers a webhook aimed at the platform's own network through an IPv6
form that carries a private IPv4 address, or lies in a range no internet host has: the
notify service refuses it when the channel is made.

The stack of this tier runs with private receivers allowed (its webhooks go to local test
servers), so the rule is tried on the notify service alone, with the setting off, through
its RPC entry point as the gateway calls it.
"""

from __future__ import annotations

import pytest

from services.common.errors import InvalidInput
from tests.support.notify_service import (  # noqa: F401 - fixtures
    caller_of,
    isolated,
    new_id,
    people,
    service,
    user,
    webhook,
)

TARGETS = [
    "http://[::127.0.0.1]:5672/",  # IPv4-compatible: the broker on loopback
    "http://[::ffff:0:127.0.0.1]/",  # IPv4-translated
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",  # 6to4 of the metadata address
    "http://[2002:a00:1::]:5432/",  # 6to4 of 10.0.0.1
    "http://[64:ff9b::169.254.169.254]/latest/meta-data/",  # NAT64
    "http://[64:ff9b::10.0.0.1]/",
    "http://[64:ff9b:1::a00:1]/",  # local-use NAT64
    "http://[fec0::1]/",  # site-local
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[5f00::1]/",  # SRv6
]


@pytest.mark.parametrize("target", TARGETS)
def test_a_webhook_into_the_platforms_network_through_ipv6_is_refused(
    service,  # noqa: F811 - the notify service fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    admin = caller_of(user(new_id()), "channel.manage")
    monkeypatch.setenv("PRM_WEBHOOK_ALLOW_PRIVATE", "false")
    with pytest.raises(InvalidInput) as refused:
        webhook(service, admin, scope="partner", target=target)
    assert refused.value.code == "webhook_target_not_allowed"
    assert "target" in refused.value.errors


def test_a_webhook_to_a_translated_public_address_is_still_taken(
    service,  # noqa: F811 - the notify service fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = caller_of(user(new_id()), "channel.manage")
    monkeypatch.setenv("PRM_WEBHOOK_ALLOW_PRIVATE", "false")
    for target in ("https://[64:ff9b::8.8.8.8]/hook", "https://[2606:4700:4700::1111]/hook"):
        assert webhook(service, admin, scope="partner", target=target)["active"] is True
