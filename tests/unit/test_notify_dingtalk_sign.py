"""DingTalk robot 加签: the sign, the signed URL, and where a robot secret is accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote_plus, urlsplit

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from services.common.config import NotifySettings
from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.notify import channels
from services.notify.models import Base
from services.notify.schemas import ChannelIn, ChannelUpdate
from services.notify.transport import (
    DeliveryError,
    Job,
    dingtalk_sign,
    dingtalk_signed_url,
    send_webhook,
)

SECRET = "SECb1d3f6c8a0e24c5f9d7b2a4e6c8f0a1b3d5e7f9a2c4e6b8d0f1a3c5e7b9d2f4a6"
NOW_MS = 1_700_000_000_000
#: Computed once with ``printf '1700000000000\n<SECRET>' | openssl dgst -sha256 -hmac
#: <SECRET> -binary | base64``, then URL-encoded.
PINNED_SIGN = "tQXwjUdQiJxucyjA56GCvXDlZYuj6MG6J4k%2Fnbfu2mU%3D"
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=a1b2c3"
NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def expected_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's formula, written out as its documentation gives it."""
    string_to_sign = f"{timestamp_ms}\n{secret}"
    hmac_code = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), digestmod=hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(hmac_code))


# -- the sign and the URL ---------------------------------------------------------------


def test_the_sign_follows_dingtalks_formula_and_matches_the_pinned_value() -> None:
    assert dingtalk_sign(SECRET, NOW_MS) == expected_sign(SECRET, NOW_MS)
    assert dingtalk_sign(SECRET, NOW_MS) == PINNED_SIGN
    assert dingtalk_sign(SECRET, NOW_MS + 1) != PINNED_SIGN
    assert dingtalk_sign(SECRET + "x", NOW_MS) != PINNED_SIGN


def test_the_signed_url_keeps_the_access_token_and_gains_timestamp_and_sign() -> None:
    signed = dingtalk_signed_url(ROBOT, SECRET, NOW_MS)
    parts = urlsplit(signed)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "oapi.dingtalk.com", "/robot/send")
    query = parse_qsl(parts.query)
    assert [name for name, _ in query] == ["access_token", "timestamp", "sign"]
    values = dict(query)
    assert (values["access_token"], values["timestamp"]) == ("a1b2c3", str(NOW_MS))
    digest = hmac.new(SECRET.encode(), f"{NOW_MS}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert base64.b64decode(values["sign"]) == digest
    assert parts.query.endswith(f"&timestamp={NOW_MS}&sign={PINNED_SIGN}")
    assert parts.query.startswith("access_token=a1b2c3&")


def test_the_signed_url_replaces_a_stale_timestamp_and_sign_and_keeps_other_encoding() -> None:
    stale = f"{ROBOT}&timestamp=1&sign=old&note=a%20b"
    query = urlsplit(dingtalk_signed_url(stale, SECRET, NOW_MS)).query
    assert query == f"access_token=a1b2c3&note=a%20b&timestamp={NOW_MS}&sign={PINNED_SIGN}"


# -- sending ----------------------------------------------------------------------------


def job(fmt: str, robot_secret: str | None, target: str = ROBOT) -> Job:
    return Job(
        delivery_id=1,
        channel_id=2,
        event="lead_assigned",
        kind="webhook",
        target=target,
        format=fmt,
        secret="prm-secret",
        payload={"title": "新线索", "body": "请申领"},
        robot_secret=robot_secret,
    )


@pytest.fixture
def posted(monkeypatch) -> list[SimpleNamespace]:
    """Every POST send_webhook makes, answered 200 with errcode 0."""
    calls: list[SimpleNamespace] = []

    def post(session: requests.Session, url: str, **kwargs: object) -> requests.Response:
        calls.append(SimpleNamespace(url=url, **kwargs))
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"errcode":0,"errmsg":"ok"}'
        response._content_consumed = True
        return response

    monkeypatch.setattr(requests.Session, "post", post)
    return calls


SETTINGS = NotifySettings(webhook_allow_private=True)


def test_a_dingtalk_job_with_a_robot_secret_is_sent_to_the_signed_url(posted) -> None:
    send_webhook(job("dingtalk", SECRET), SETTINGS, now=NOW_MS / 1000)
    [call] = posted
    assert call.url == f"{ROBOT}&timestamp={NOW_MS}&sign={PINNED_SIGN}"
    assert call.headers["X-PRM-Signature"].startswith(f"t={NOW_MS // 1000},v1=")


@pytest.mark.parametrize(("fmt", "robot_secret"), [("dingtalk", None), ("json", SECRET)])
def test_without_a_robot_secret_or_dingtalk_the_url_is_left_alone(
    posted, fmt: str, robot_secret: str | None
) -> None:
    send_webhook(job(fmt, robot_secret), SETTINGS, now=NOW_MS / 1000)
    assert [call.url for call in posted] == [ROBOT]


def test_a_failed_send_never_tells_the_sign_nor_the_access_token(monkeypatch) -> None:
    def refuse(session: requests.Session, url: str, **kwargs: object) -> requests.Response:
        raise requests.ConnectionError(f"Max retries exceeded with url: {urlsplit(url).query}")

    monkeypatch.setattr(requests.Session, "post", refuse)
    with pytest.raises(DeliveryError) as raised:
        send_webhook(job("dingtalk", SECRET), SETTINGS, now=NOW_MS / 1000)
    text = str(raised.value)
    assert "access_token=***" in text and "sign=***" in text
    assert "a1b2c3" not in text and PINNED_SIGN not in text and SECRET not in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# -- where a robot secret is accepted ---------------------------------------------------


def channel_in(**fields: object) -> dict:
    return {"kind": "webhook", "target": ROBOT, "format": "dingtalk", **fields}


def refused(schema: type, payload: dict) -> list[str]:
    with pytest.raises(InvalidInput) as raised:
        load(schema, payload)
    return raised.value.errors["robot_secret"]


def test_a_dingtalk_webhook_takes_a_robot_secret() -> None:
    assert load(ChannelIn, channel_in(robot_secret=SECRET))["robot_secret"] == SECRET
    assert load(ChannelIn, channel_in())["robot_secret"] is None
    assert load(ChannelIn, channel_in(robot_secret="SEC" + "a" * 197))["robot_secret"]


@pytest.mark.parametrize(
    "payload",
    [
        channel_in(format="json", robot_secret=SECRET),
        channel_in(format="wecom", robot_secret=SECRET),
        channel_in(format=None, robot_secret=SECRET),
        {"kind": "email", "target": "a@example.com", "robot_secret": SECRET},
    ],
    ids=["json", "wecom", "no-format", "email"],
)
def test_a_robot_secret_is_refused_on_any_other_channel(payload: dict) -> None:
    assert refused(ChannelIn, payload) == [
        "only a DingTalk robot webhook (format dingtalk) takes a robot secret"
    ]


@pytest.mark.parametrize(
    "secret",
    ["b1d3f6c8a0e24c5f", "sec123", "SEC 123", "SEC123\t", "SEC密钥", "SEC", "SEC" + "a" * 198],
    ids=["no-prefix", "lower-prefix", "space", "tab", "not-ascii", "bare-prefix", "too-long"],
)
def test_a_robot_secret_must_look_like_dingtalks(secret: str) -> None:
    assert refused(ChannelIn, channel_in(robot_secret=secret))
    assert refused(ChannelUpdate, {"robot_secret": secret})


def test_an_update_sets_or_removes_a_robot_secret_but_not_with_another_format() -> None:
    assert load(ChannelUpdate, {"robot_secret": SECRET}) == {"robot_secret": SECRET}
    assert load(ChannelUpdate, {"robot_secret": None}) == {"robot_secret": None}
    assert load(ChannelUpdate, {"format": "dingtalk", "robot_secret": SECRET})
    assert refused(ChannelUpdate, {"format": "json", "robot_secret": SECRET})


# -- against the stored channel ---------------------------------------------------------


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


CALLER = Caller(user_id=7, partner_id=None, partner_ids=frozenset(), permissions=frozenset())


def work(session: Session) -> UnitOfWork:
    """A unit of work on ``session``, as a worker's is on its own."""
    return UnitOfWork(lambda: session, "notify")


def create(session: Session, **fields: object) -> dict:
    data = load(ChannelIn, channel_in(**fields))
    return channels.create_channel(work(session), CALLER, data, SETTINGS, NOW)


def update(session: Session, channel_id: int, payload: dict) -> dict:
    data = load(ChannelUpdate, payload)
    return channels.update_channel(work(session), CALLER, channel_id, data, NOW)


def test_answers_say_robot_signed_and_never_carry_the_robot_secret(session: Session) -> None:
    created = create(session, robot_secret=SECRET)
    assert created["robot_signed"] is True and created["secret"]
    listed = channels.list_channels(work(session), CALLER, {"page": 1, "per_page": 20})
    got = channels.get_channel(work(session), CALLER, created["id"])
    for answer in (created, listed, got):
        assert SECRET not in repr(answer) and "robot_secret" not in repr(answer)
    assert listed["items"][0]["robot_signed"] is True and got["robot_signed"] is True
    assert create(session)["robot_signed"] is False


def test_updates_rotate_and_remove_the_robot_secret(session: Session) -> None:
    channel_id = create(session)["id"]
    assert update(session, channel_id, {"robot_secret": SECRET})["robot_signed"] is True
    rotated = update(session, channel_id, {"robot_secret": SECRET + "2"})
    assert rotated["robot_signed"] is True and SECRET not in repr(rotated)
    assert channels.visible_channel(session, CALLER, channel_id).robot_secret == SECRET + "2"
    assert update(session, channel_id, {"robot_secret": None})["robot_signed"] is False


def test_a_channel_keeping_its_robot_secret_cannot_leave_dingtalk(session: Session) -> None:
    channel_id = create(session, robot_secret=SECRET)["id"]
    with pytest.raises(InvalidInput) as raised:
        update(session, channel_id, {"format": "wecom"})
    assert list(raised.value.errors) == ["robot_secret"]
    assert channels.visible_channel(session, CALLER, channel_id).format == "dingtalk"

    moved = update(session, channel_id, {"format": "wecom", "robot_secret": None})
    assert (moved["format"], moved["robot_signed"]) == ("wecom", False)
    with pytest.raises(InvalidInput) as raised:
        update(session, channel_id, {"robot_secret": SECRET})
    assert list(raised.value.errors) == ["robot_secret"]


def test_an_email_channel_takes_no_robot_secret_on_update(session: Session) -> None:
    mail = channels.create_channel(
        work(session),
        CALLER,
        load(ChannelIn, {"kind": "email", "target": "a@example.com"}),
        NotifySettings(smtp_host="smtp.example.com"),
        NOW,
    )
    with pytest.raises(InvalidInput) as raised:
        update(session, mail["id"], {"robot_secret": SECRET})
    assert list(raised.value.errors) == ["robot_secret"]
    assert update(session, mail["id"], {"robot_secret": None})["robot_signed"] is False
