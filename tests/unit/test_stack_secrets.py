"""The log check of the test stack (tests/support/fixtures.py) looks for the broker
passwords the stack made for its processes, although ``stop`` forgets the logins before
the check runs. The broker is faked: nothing connects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import secrets_in_logs, stack_keys
from tests.support.stack import Stack


class _Probe:
    def __init__(self, uri: str, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def ensure_connection(self, **kwargs: Any) -> None:
        pass


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A stack that made its broker users (on a fake broker) and started nothing."""
    monkeypatch.setattr("services.common.broker.apply", lambda document, uri: "faked")
    monkeypatch.setattr("services.common.broker.remove_users", lambda users, uri: None)
    monkeypatch.setattr("kombu.Connection", _Probe)
    made = Stack(("partners",), tmp_path / "logs", metrics=False)
    assert made.provision_broker_users()
    return made


def test_a_broker_password_in_a_log_is_found_after_stop(stack: Stack) -> None:
    login = stack.broker_logins["notify"]
    password = login["PRM_BROKER_PASSWORD"]
    stack.log_dir.mkdir(parents=True)
    (stack.log_dir / "notify.log").write_text(
        f"connecting as {login['PRM_BROKER_USER']}:{password}\n"
    )
    stack.stop()
    assert not stack.broker_logins  # stop forgot the logins...
    assert password not in stack.env.values()  # ...and the environment never held them
    assert password in stack_keys(stack)
    assert secrets_in_logs(stack, stack_keys(stack)) == {"notify.log": [f"{password[:6]}..."]}


def test_every_process_password_is_kept(stack: Stack) -> None:
    passwords = {login["PRM_BROKER_PASSWORD"] for login in stack.broker_logins.values()}
    stack.stop()
    assert passwords and passwords <= stack.secrets()
