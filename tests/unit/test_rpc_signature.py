"""An RPC whose arguments do not fit the method is refused before any worker runs
(``IncorrectSignature``), however many calls came before it."""

from __future__ import annotations

import pytest
from nameko.exceptions import IncorrectSignature

from services.common.entrypoints import Rpc


class _Service:
    def get_partner(self, partner_id: int, *, detail: bool = False) -> None:
        raise AssertionError("never run by the check")


class _Container:
    service_cls = _Service


def _entrypoint() -> Rpc:
    entrypoint = Rpc()
    entrypoint.container = _Container()
    entrypoint.method_name = "get_partner"
    return entrypoint


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [([1], {}), ([], {"partner_id": 1}), ([1], {"detail": True})],
)
def test_arguments_that_fit_pass(args: list, kwargs: dict) -> None:
    entrypoint = _entrypoint()
    for _ in range(2):  # the second time from the signature read the first time
        entrypoint.check_signature(args, kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [([], {}), ([1, 2], {}), ([1], {"partner": 1}), ([1, True], {}), ([1], {"partner_id": 1})],
)
def test_arguments_that_do_not_fit_are_refused(args: list, kwargs: dict) -> None:
    entrypoint = _entrypoint()
    entrypoint.check_signature([1], {})  # a good call first: nothing of it is kept
    with pytest.raises(IncorrectSignature):
        entrypoint.check_signature(args, kwargs)
