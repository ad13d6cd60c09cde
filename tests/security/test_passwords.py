"""Passwords and secrets: weak passwords are refused, no usable key ships with the code.

A password has at least 10 characters, is not among the common ones (zxcvbn's frequency
lists and score) and does not contain the user name; anything else is 422 invalid_input
with ``errors["password"]``, on creation, on change and for the bootstrap admin. In
production the settings refuse the placeholder keys of the repository's example files;
keys generated for a local run are readable by their owner only.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.common.config import ConfigError, get_settings
from services.common.errors import InvalidInput
from services.common.models import CommonBase
from services.partners import seed
from services.partners.models import Base, User
from tests.support.client import Client, unique
from tests.support.world import PASSWORD, World

ROOT = Path(__file__).resolve().parents[2]
USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/login"

WEAK = {
    "nine-characters": "Wq7-pl2Zx",
    "common": "password123",
    "keyboard-walk": "qwertyuiop",
    "digits": "1234567890",
    "repeated": "aaaaaaaaaaaa",
    "common-word-and-year": "password2026",
}


def assert_password_refused(response) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_input", body
    assert body["errors"].get("password"), body


# -- over HTTP --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", WEAK)
def test_creating_a_user_with_a_weak_password_is_refused_and_creates_nothing(
    admin: Client, kind: str
) -> None:
    username = unique("pw")
    body = {"username": username, "password": WEAK[kind], "display_name": "弱密码"}

    assert_password_refused(admin.post(USERS, body))

    assert admin.get(f"{USERS}?q={username}").json()["total"] == 0


def test_a_password_containing_the_user_name_is_refused(admin: Client) -> None:
    username = unique("zhangwei")
    body = {"username": username, "password": f"{username.upper()}-2026!", "display_name": "张伟"}

    assert_password_refused(admin.post(USERS, body))


def test_changing_to_a_weak_password_is_refused_and_the_old_one_still_works(
    admin: Client, anonymous: Client, world: World
) -> None:
    user = world.user(None, ["marketing"])

    for weak in (*WEAK.values(), f"{user['username']}-Quay-77"):
        assert_password_refused(admin.patch(f"{USERS}/{user['id']}", {"password": weak}))

    assert anonymous.login(user["username"], PASSWORD).get("/api/v1/me").ok


def test_a_partner_admin_cannot_give_its_users_a_weak_password(admin: Client, world: World) -> None:
    partner = world.partner(["330100"])
    partner_admin = world.login(world.user(partner["id"], ["partner_admin"]))
    body = {"username": unique("pw"), "password": "password123", "display_name": "弱密码"}

    assert_password_refused(partner_admin.post(USERS, body))


def test_a_strong_password_is_accepted(admin: Client, anonymous: Client) -> None:
    username = unique("pw")
    body = {"username": username, "password": "lantern-quay-9081", "display_name": "强密码"}

    assert admin.post(USERS, body).status_code == 201
    assert anonymous.login(username, "lantern-quay-9081").get("/api/v1/me").ok


# -- the rule and the bootstrap admin ---------------------------------------------------


def test_the_rule_names_every_reason_a_password_is_refused() -> None:
    from services.partners.rules import check_password

    with pytest.raises(InvalidInput) as refused:
        check_password("wangmin", "wangmin1")
    reasons = refused.value.errors["password"]
    assert len(reasons) >= 2  # too short, and it contains the user name
    assert refused.value.code == "invalid_input"


def test_a_password_longer_than_the_scorer_reads_is_still_checked() -> None:
    from services.partners.rules import check_password

    with pytest.raises(InvalidInput):
        check_password("wangmin", "a" * 200)
    check_password("wangmin", "lantern-quay-9081" + "x" * 150)


@pytest.fixture
def partners_session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    CommonBase.metadata.create_all(engine)  # the outbox a user's change writes its event to
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        yield session
    engine.dispose()


@pytest.mark.parametrize("password", ["admin-test-pass", "prm-admin-2026", "password123"])
def test_the_bootstrap_admin_is_not_created_with_a_weak_password(
    partners_session: Session, password: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        seed.ensure_admin(partners_session, password)

    assert refused.value.errors["password"]
    assert partners_session.scalar(select(User.id).where(User.username == "admin")) is None


def test_an_admin_left_with_the_formerly_published_password_gets_the_given_one(
    partners_session: Session,
) -> None:
    """A local installation made by an earlier release kept ``prm-admin-2026``, which its
    README printed: the next start replaces it with the password it is given."""
    from services.partners import signin as access

    seed.create_admin(partners_session, "admin", "Quartz-lantern-8264")
    admin = partners_session.scalar(select(User).where(User.username == "admin"))
    admin.password_hash = access.hash_password(seed.FORMER_PUBLISHED_ADMIN_PASSWORD)
    partners_session.flush()

    assert seed.ensure_admin(partners_session, "Ember-harbour-5107") is False
    assert not access.has_password(admin, seed.FORMER_PUBLISHED_ADMIN_PASSWORD)
    assert access.has_password(admin, "Ember-harbour-5107")


def test_an_admin_with_its_own_password_keeps_it(partners_session: Session) -> None:
    from services.partners import signin as access

    seed.create_admin(partners_session, "admin", "Quartz-lantern-8264")
    seed.ensure_admin(partners_session, "Ember-harbour-5107")
    admin = partners_session.scalar(select(User).where(User.username == "admin"))
    assert access.has_password(admin, "Quartz-lantern-8264")


# -- keys and secrets -------------------------------------------------------------------


def example_file_values() -> set[str]:
    """The values the repository's example and compose files ever wrote for a key."""
    found = set()
    secret = yaml.safe_load((ROOT / "deploy" / "k8s" / "secret.example.yaml").read_text())
    for key, value in secret["stringData"].items():
        if key.startswith("PRM_") and key.endswith(("SECRET", "KEY")):
            found.add(value)
    return found


PLACEHOLDERS = [
    # what docker-compose.yml used to default to
    "dev-only-insecure-jwt-secret-change-me-000000",
    "dev-only-insecure-internal-key-change-me-00000",
    "change-me-change-me-change-me-change-me",
    "k" * 40,
    *sorted(example_file_values()),
]


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PRM_ENV", "production")
    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))
    for key in ("PRM_JWT_SECRET", "PRM_INTERNAL_KEY", "PRM_SECRETS_KEY"):
        monkeypatch.setenv(key, os.urandom(32).hex())
    return monkeypatch


@pytest.mark.parametrize("key", ["PRM_JWT_SECRET", "PRM_INTERNAL_KEY"])
@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_production_settings_refuse_a_placeholder_key(
    production: pytest.MonkeyPatch, key: str, value: str
) -> None:
    production.setenv(key, value)

    with pytest.raises(ConfigError, match=key):
        get_settings.__wrapped__()


def test_production_refuses_a_placeholder_anywhere_in_the_secrets_key_ring(
    production: pytest.MonkeyPatch,
) -> None:
    from services.common.config import _key_ring

    ring = f"{os.urandom(32).hex()},dev-only-insecure-secrets-key-change-me-000000"
    production.setenv("PRM_SECRETS_KEY", ring)

    with pytest.raises(ConfigError, match="PRM_SECRETS_KEY"):
        _key_ring("PRM_SECRETS_KEY", production=True)


def test_production_settings_accept_random_keys(production: pytest.MonkeyPatch) -> None:
    assert get_settings.__wrapped__().production


def test_a_placeholder_key_still_runs_a_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_ENV", "development")
    monkeypatch.setenv("PRM_JWT_SECRET", PLACEHOLDERS[0])

    assert get_settings.__wrapped__().jwt_secret == PLACEHOLDERS[0]


def test_local_keys_are_readable_by_their_owner_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRM_ENV", "development")
    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("PRM_JWT_SECRET")
    monkeypatch.delenv("PRM_INTERNAL_KEY")

    settings = get_settings.__wrapped__()

    keys = tmp_path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for name in ("prm_jwt_secret", "prm_internal_key"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600, name
    assert settings.jwt_secret == (keys / "prm_jwt_secret").read_text().strip()


def test_a_local_key_left_readable_by_others_is_closed_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.common.config import local_secret

    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))
    first = local_secret("prm_jwt_secret")
    (tmp_path / "keys").chmod(0o755)
    (tmp_path / "keys" / "prm_jwt_secret").chmod(0o644)

    assert local_secret("prm_jwt_secret") == first
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "prm_jwt_secret").stat().st_mode) == 0o600


def test_the_generated_admin_password_is_private_and_passes_the_rule(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.common.config import local_secret
    from services.partners.rules import check_password

    monkeypatch.setenv("PRM_VAR_DIR", str(tmp_path))

    password = local_secret("admin-password")

    assert stat.S_IMODE((tmp_path / "keys" / "admin-password").stat().st_mode) == 0o600
    check_password("admin", password)
    assert local_secret("admin-password") == password  # the same on every run


def test_the_run_banner_does_not_print_the_admin_password() -> None:
    script = (ROOT / "scripts" / "run.sh").read_text()
    banners = re.findall(r"<<'?MSG'?\n(.*?)\nMSG", script, flags=re.S)
    assert banners
    for banner in banners:
        assert "PRM_ADMIN_PASSWORD}" not in banner
    assert any("password in" in banner for banner in banners), "the banner says where it is"
