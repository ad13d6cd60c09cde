"""Calling another service from a service: with a timeout, as the worker's caller.

The caller context travels in the worker's context data, so the callee sees the same
caller (the user of the request, or the system for handlers and timers).
"""

from __future__ import annotations

import logging
from typing import Any

import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from services.common.db import holds_sqlite_write_lock
from services.common.errors import ServiceTimeout, ServiceUnavailable

log = logging.getLogger(__name__)


class _TimedMethod:
    def __init__(self, proxy: Any, service: str, method: str, timeout: float) -> None:
        self._proxy, self._service, self._method, self._timeout = proxy, service, method, timeout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if holds_sqlite_write_lock():
            # Every other writer of the service waits until this call answers: fetch from
            # peers first, then write.
            log.warning(
                "write transaction open across a call to %s.%s", self._service, self._method
            )
        try:
            with eventlet.Timeout(self._timeout):
                return getattr(self._proxy, self._method)(*args, **kwargs)
        except eventlet.Timeout as exc:
            raise ServiceTimeout(f"{self._service} did not answer in time") from exc
        except UnknownService as exc:
            raise ServiceUnavailable(f"the {self._service} service is not available") from exc


class _TimedService:
    def __init__(self, proxy: Any, service: str, timeout: float) -> None:
        self._proxy, self._service, self._timeout = proxy, service, timeout

    def __getattr__(self, method: str) -> _TimedMethod:
        return _TimedMethod(self._proxy, self._service, method, self._timeout)


class ServiceRpc(RpcProxy):
    """``self.partners.partners_covering("330106")`` with the configured RPC timeout."""

    def get_dependency(self, worker_ctx: Any) -> _TimedService:
        timeout = float(self.container.config.get("RPC_TIMEOUT", 10.0))
        return _TimedService(super().get_dependency(worker_ctx), self.target_service, timeout)
