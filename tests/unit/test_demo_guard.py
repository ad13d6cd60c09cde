"""``manage.py seed --business`` records receipts and approves filings: it goes only into
a stack on this machine, unless ``PRM_DEMO=1`` says the stack it names is a demo."""

from __future__ import annotations

import pytest

from services import demo


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8000", "https://prm.example.com", "http://[2001:db8::1]:8000"]
)
def test_business_data_is_refused_for_a_stack_elsewhere(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRM_DEMO", raising=False)
    with pytest.raises(demo.DemoError, match="not this machine"):
        demo.seed_business(url)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"])
def test_this_machine_is_a_loopback_address(host: str) -> None:
    assert demo._loopback(host.strip("[]"))
