"""``manage.py testing``: the test-only time control and stored-state commands are refused
outside a test run, before they open any database."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

import manage

COMMANDS = [
    lambda: manage.age_customer(1, datetime.now(UTC)),
    lambda: manage.age_lead(1, datetime.now(UTC)),
    lambda: manage.age_order(1, 1),
    lambda: manage.stored_channel(1),
    lambda: manage.lose_channel_key(1),
    lambda: manage.put_stored_channel_target(1, "sealed:x"),
]


@pytest.mark.parametrize("env", ["production", "development", None])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_testing_command_is_refused_unless_prm_env_is_test(
    command, env: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is None:
        monkeypatch.delenv("PRM_ENV", raising=False)
    else:
        monkeypatch.setenv("PRM_ENV", env)
    with pytest.raises(manage.TestingRefused, match="PRM_ENV=test"):
        command()


def test_the_command_line_refuses_too_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_ENV", "production")
    done = subprocess.run(
        [sys.executable, "manage.py", "testing", "age-lead", "--id", "1", "--until", "2026-01-01Z"],
        cwd=manage.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "refused unless PRM_ENV=test" in done.stderr


def test_a_time_without_a_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_ENV", "test")
    with pytest.raises(manage.TestingRefused, match="no time zone"):
        manage.age_lead(1, datetime(2026, 1, 1))
