"""Sending one delivery: a signed webhook POST or an e-mail over SMTP.

Webhook bodies are JSON in one of three formats: ``json`` (ours), ``wecom`` (企业微信 group
robot markdown) or ``dingtalk`` (钉钉 robot markdown). Every body is signed:
``X-PRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the channel's
secret>``; a receiver recomputes it and refuses old timestamps (``verify_signature``).
A DingTalk robot with 加签 security reads no header: its URL gets ``timestamp`` (ms) and
``sign`` (base64 HMAC-SHA256 of "<timestamp>\\n<robot secret>", keyed by the robot secret)
at each send, as it refuses timestamps more than an hour off (``dingtalk_signed_url``).
The sign is masked in every error the delivery log or the inbox may show.
Redirects are not followed (a redirect could lead to an address the target check refused).
Every exchange has a short timeout. A failure is a ``DeliveryError`` with a short reason,
which the delivery log shows.

An IO adapter: it talks to webhook receivers and SMTP servers, never to the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote_plus, unquote_plus, urlsplit, urlunsplit

import requests

from services.common import pii
from services.common.config import NotifySettings
from services.notify.schemas import DINGTALK, EMAIL, WEBHOOK, WECOM
from services.notify.targets import webhook_session, webhook_target_problem

SIGNATURE_HEADER = "X-PRM-Signature"
USER_AGENT = "prm-notify/1"
MASK = "***"
WECOM_MAX_CHARS = 4000  # the robot takes at most 4096 bytes of markdown
ERROR_MAX = 500


class DeliveryError(Exception):
    """The target did not take the delivery; ``str()`` says why."""


@dataclass(frozen=True)
class Job:
    """A claimed delivery and what sending it needs (read before the claim commits)."""

    delivery_id: int
    channel_id: int
    event: str
    kind: str
    target: str
    format: str | None
    secret: str | None
    payload: dict[str, Any]
    robot_secret: str | None = None


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-PRM-Signature`` for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: the signature matches and is at most ``tolerance`` s old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签 ``sign``: base64 HMAC-SHA256 of "<timestamp>\\n<secret>", URL-encoded."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def dingtalk_signed_url(url: str, secret: str, now_ms: int) -> str:
    """``url`` with ``timestamp`` and ``sign`` appended to its query (the rest kept as it is;
    a stale ``timestamp`` or ``sign`` already there is dropped)."""
    parts = urlsplit(url)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in ("timestamp", "sign")
    ]
    kept += [f"timestamp={now_ms}", f"sign={dingtalk_sign(secret, now_ms)}"]
    return urlunsplit(parts._replace(query="&".join(kept)))


#: Query values shorter than this are not masked (``?v=1`` would mask every "1").
_SECRET_MIN = 6


def _masked(text: str, url: str) -> str:
    """``text`` without what of ``url`` may be secret, as an exception may quote the URL: the
    values of its query (a robot's ``access_token`` or ``key``, the ``sign``) and its path
    (some webhooks carry their token there)."""
    parts = urlsplit(url)
    hidden = {parts.path} if len(parts.path) > 1 else set()
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= _SECRET_MIN:
            hidden |= {value, unquote_plus(value)}
    for secret in sorted(hidden, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def webhook_document(fmt: str | None, delivery_id: int, payload: dict[str, Any]) -> dict:
    """The JSON document a webhook of format ``fmt`` receives."""
    title, text = payload.get("title", ""), payload.get("body", "")
    if fmt == WECOM:
        content = f"**{title}**\n{text}"
        return {"msgtype": "markdown", "markdown": {"content": content[:WECOM_MAX_CHARS]}}
    if fmt == DINGTALK:
        return {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": f"#### {title}\n{text}"},
        }
    return {
        "delivery_id": delivery_id,
        "event_id": payload.get("event_id"),
        "event": payload.get("event"),
        "occurred_at": payload.get("occurred_at"),
        "language": payload.get("language"),
        "title": title,
        "body": text,
        "subject": payload.get("subject"),
        "partner_id": payload.get("partner_id"),
        "data": payload.get("data") or {},
    }


def webhook_body(fmt: str | None, delivery_id: int, payload: dict[str, Any]) -> bytes:
    document = webhook_document(fmt, delivery_id, payload)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _robot_error(response: requests.Response) -> str | None:
    """WeCom and DingTalk answer 200 with a non-zero ``errcode`` when they refuse."""
    try:
        answer = response.json()
    except ValueError:
        return None
    if isinstance(answer, dict) and answer.get("errcode") not in (None, 0):
        return f"robot refused: errcode {answer.get('errcode')} {answer.get('errmsg', '')}"
    return None


def send_webhook(job: Job, settings: NotifySettings, now: float | None = None) -> None:
    problem = webhook_target_problem(job.target, settings.webhook_allow_private)
    if problem:
        raise DeliveryError(f"target refused: {problem}")
    body = webhook_body(job.format, job.delivery_id, job.payload)
    clock = now if now is not None else time.time()
    timestamp = int(clock)
    url = job.target
    if job.format == DINGTALK and job.robot_secret:
        url = dingtalk_signed_url(url, job.robot_secret, int(clock * 1000))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-PRM-Event": job.event,
        "X-PRM-Delivery": str(job.delivery_id),
        SIGNATURE_HEADER: signature(job.secret or "", timestamp, body),
    }
    try:
        with webhook_session(settings.webhook_allow_private) as session:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=settings.delivery_timeout,
                allow_redirects=False,
            )
    except requests.RequestException as exc:
        # Not chained: the cause quotes the signed URL, and a traceback would show it.
        raise DeliveryError(_short(_masked(f"{type(exc).__name__}: {exc}", url))) from None
    with response:
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}")
        if job.format in (WECOM, DINGTALK):
            refused = _robot_error(response)
            if refused:
                raise DeliveryError(_short(_masked(refused, url)))


def email_message(job: Job, settings: NotifySettings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = job.payload.get("title", "")
    message["From"] = settings.smtp_from
    message["To"] = job.target
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message["X-PRM-Event"] = job.event
    message.set_content(f"{job.payload.get('body', '')}\n")
    return message


def send_email(job: Job, settings: NotifySettings) -> None:
    if not settings.smtp_configured:
        raise DeliveryError("SMTP is not configured (PRM_SMTP_HOST)")
    message = email_message(job, settings)
    try:
        if settings.smtp_tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.delivery_timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.delivery_timeout
            )
        with smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        # An SMTP refusal quotes the recipient's address: the error is stored and logged.
        raise DeliveryError(_short(_without_addresses(f"{type(exc).__name__}: {exc}"))) from exc


_ADDRESS = re.compile(r"[^\s<>'\"(),;:]+@[^\s<>'\"(),;:]+")


def _without_addresses(text: str) -> str:
    """``text`` with every e-mail address in it masked (``w***@example.com``)."""
    return _ADDRESS.sub(lambda found: pii.mask_email(found.group(0)) or "", text)


def send(job: Job, settings: NotifySettings) -> None:
    """Send ``job`` to its channel; DeliveryError if the target did not take it."""
    if job.kind == WEBHOOK:
        send_webhook(job, settings)
    elif job.kind == EMAIL:
        send_email(job, settings)
    else:
        raise DeliveryError(f"unknown channel kind {job.kind}")
