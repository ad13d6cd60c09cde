"""``manage.py run`` starts a service again when its container dies, and stops for good
when the container ends because it was asked to."""

from __future__ import annotations

import argparse
import logging

import nameko.runners
import pytest

import manage


class DyingRunner:
    """A service runner whose container dies of an error the first ``deaths`` times."""

    deaths = 2
    started: list[str] = []

    def __init__(self, config: dict) -> None:
        self.service = None

    def add_service(self, cls: type) -> None:
        self.service = cls.name

    def start(self) -> None:
        DyingRunner.started.append(self.service)

    def wait(self) -> None:
        if len(DyingRunner.started) <= DyingRunner.deaths:
            raise RuntimeError("server closed the connection unexpectedly")

    def stop(self) -> None:
        pass


def test_a_container_that_dies_is_started_again_until_it_ends_normally(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    DyingRunner.started = []
    monkeypatch.setattr(nameko.runners, "ServiceRunner", DyingRunner)
    monkeypatch.setattr(manage, "RESTART_PAUSE", 0)
    monkeypatch.setattr(manage, "configure_logging", lambda service: None)
    monkeypatch.setattr(manage.signal, "signal", lambda signum, handler: None)

    with caplog.at_level(logging.INFO, logger="manage"):
        manage.cmd_run(argparse.Namespace(service="notify"))

    assert DyingRunner.started == ["notify", "notify", "notify"]
    died = [r for r in caplog.records if "died; starting it again" in r.getMessage()]
    assert len(died) == 2
    assert all(r.exc_info and "server closed" in str(r.exc_info[1]) for r in died)
