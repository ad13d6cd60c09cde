"""Webhook bodies, their signature, the retry schedule and the notify settings."""

from __future__ import annotations

import json

import pytest

from services.common.config import ConfigError, NotifySettings
from services.common.config import load_notify_settings as load_settings
from services.notify.rules import backoff
from services.notify.transport import signature, verify_signature, webhook_body

PAYLOAD = {
    "event_id": "e-1",
    "event": "lead_assigned",
    "occurred_at": "2026-05-01T00:00:00Z",
    "language": "zh",
    "title": "新线索待申领：甲公司",
    "body": "请在期限前申领。",
    "subject": {"type": "lead", "id": 3},
    "partner_id": 7,
    "data": {"lead_id": 3},
}


def test_signature_verifies_with_the_secret_and_not_with_another() -> None:
    body = webhook_body("json", 1, PAYLOAD)
    header = signature("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature("s3cret", header, body, now=1_700_000_010)
    assert not verify_signature("other", header, body, now=1_700_000_010)


def test_signature_fails_for_a_changed_body_or_an_old_timestamp() -> None:
    body = webhook_body("json", 1, PAYLOAD)
    header = signature("s3cret", 1_700_000_000, body)
    assert not verify_signature("s3cret", header, body + b" ", now=1_700_000_010)
    assert not verify_signature("s3cret", header, body, now=1_700_000_000 + 301)
    assert not verify_signature("s3cret", "garbage", body, now=1_700_000_000)


def test_json_format_carries_the_event_and_its_data() -> None:
    document = json.loads(webhook_body("json", 12, PAYLOAD))
    assert document["delivery_id"] == 12
    assert document["event"] == "lead_assigned"
    assert document["title"] == "新线索待申领：甲公司"
    assert document["data"] == {"lead_id": 3}


def test_wecom_format_is_a_markdown_robot_message() -> None:
    document = json.loads(webhook_body("wecom", 1, PAYLOAD))
    assert document["msgtype"] == "markdown"
    assert document["markdown"]["content"].startswith("**新线索待申领：甲公司**")


def test_dingtalk_format_is_a_markdown_robot_message_with_a_title() -> None:
    document = json.loads(webhook_body("dingtalk", 1, PAYLOAD))
    assert document["msgtype"] == "markdown"
    assert document["markdown"]["title"] == "新线索待申领：甲公司"
    assert "请在期限前申领" in document["markdown"]["text"]


def test_back_off_doubles_after_each_failure_up_to_a_ceiling() -> None:
    settings = NotifySettings(retry_base=30, retry_max=600)
    waits = [backoff(n, settings).total_seconds() for n in range(1, 7)]
    assert waits == [30, 60, 120, 240, 480, 600]


def test_smtp_tls_setting_accepts_starttls_ssl_and_none(monkeypatch) -> None:
    for raw, mode, port in (("true", "starttls", 587), ("ssl", "ssl", 465), ("false", "none", 25)):
        monkeypatch.setenv("PRM_SMTP_TLS", raw)
        monkeypatch.delenv("PRM_SMTP_PORT", raising=False)
        settings = load_settings()
        assert (settings.smtp_tls, settings.smtp_port) == (mode, port)
    monkeypatch.setenv("PRM_SMTP_TLS", "maybe")
    with pytest.raises(ConfigError):
        load_settings()


def test_malformed_numbers_in_settings_stop_the_service(monkeypatch) -> None:
    monkeypatch.setenv("PRM_CHANNEL_MAX_FAILURES", "ten")
    with pytest.raises(ConfigError):
        load_settings()
    monkeypatch.setenv("PRM_CHANNEL_MAX_FAILURES", "0")
    with pytest.raises(ConfigError):
        load_settings()


def test_a_claim_outlasts_the_longest_send_so_no_replica_sends_it_twice(monkeypatch) -> None:
    monkeypatch.setenv("PRM_DELIVERY_TIMEOUT", "20")
    monkeypatch.setenv("PRM_DELIVERY_LEASE", "10")
    settings = load_settings()
    assert settings.lease > settings.send_limit >= 3 * settings.delivery_timeout
