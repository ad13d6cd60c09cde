"""What notify stores and logs about a channel names no one: an e-mail channel's address is
masked in titles, and SMTP refusals (which quote the recipient) lose the address."""

from __future__ import annotations

from services.notify.messages import describe_target
from services.notify.transport import _without_addresses


def test_an_smtp_refusal_is_stored_without_the_recipients_address() -> None:
    error = (
        "SMTPRecipientsRefused: {'wang.lei@example.com': (550, b'5.1.1 <wang.lei@example.com>:"
        " Recipient address rejected')}"
    )
    kept = _without_addresses(error)
    assert "wang.lei" not in kept
    assert "w***@example.com" in kept
    assert "550" in kept


def test_an_email_channel_is_described_masked_and_a_webhook_without_its_query() -> None:
    assert describe_target("email", "wang.lei@example.com") == "w***@example.com"
    assert describe_target("webhook", "https://hooks.example.com/x?key=s3") == (
        "https://hooks.example.com/x"
    )
