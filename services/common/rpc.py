"""Calling another service from a service: with a timeout, as the worker's caller.

The callee sees the worker's caller (the user of the request, or the system for handlers
and timers), signed anew for each call and bound to it (``context.bind_call``): the
token the worker received is never passed on, and no token is good for another call.
Nameko makes the call's correlation id when it publishes, so the token is made there too
(``_BindingPublisher``); the rest of the call is Nameko's.
"""

from __future__ import annotations

import logging
from typing import Any

import eventlet
from amqp.exceptions import MessageNacked
from kombu import Queue
from nameko.amqp.publish import Publisher
from nameko.exceptions import UnknownService
from nameko.rpc import MethodProxy, ReplyListener, RpcProxy, ServiceProxy

from services.common.broker import referred
from services.common.context import (
    CALLER_HEADER,
    CALLER_KEY,
    REQUEST_ID_KEY,
    Caller,
    bind_call,
    caller_of_accepted_call,
    is_system_entrypoint,
)
from services.common.db import holds_sqlite_write_lock
from services.common.errors import ServiceTimeout, ServiceUnavailable, Unauthenticated

log = logging.getLogger(__name__)


def worker_caller(worker_ctx: Any) -> Caller:
    """Who the worker acts as: the system for handlers and timers, else the caller of the
    call it serves (verified when it arrived; a long call may outlast that token)."""
    if is_system_entrypoint(worker_ctx.entrypoint):
        return Caller.system_caller(
            worker_ctx.container.service_name, worker_ctx.data.get(REQUEST_ID_KEY)
        )
    token = worker_ctx.data.get(CALLER_KEY)
    if not isinstance(token, str) or not token:
        raise Unauthenticated("no caller context")
    return caller_of_accepted_call(token)


class _BindingPublisher(Publisher):
    """Publishes a call with the caller's token for that very call."""

    caller: Caller
    timeout: float

    def publish(self, payload: Any, **kwargs: Any) -> None:
        service, _, method = kwargs["routing_key"].partition(".")
        token = bind_call(
            self.caller,
            service,
            method,
            kwargs["correlation_id"],
            payload["args"],
            payload["kwargs"],
            self.timeout,
        )
        kwargs["extra_headers"] = {**kwargs.get("extra_headers", {}), CALLER_HEADER: token}
        super().publish(payload, **kwargs)


class _BindingMethodProxy(MethodProxy):
    publisher_cls = _BindingPublisher


class _BindingServiceProxy(ServiceProxy):
    """Nameko's service proxy, whose calls carry a token made for each."""

    def __init__(
        self,
        worker_ctx: Any,
        service: str,
        reply_listener: Any,
        timeout: float,
        caller: Caller | None = None,
        **options: Any,
    ) -> None:
        super().__init__(worker_ctx, service, reply_listener, **options)
        self.timeout, self.caller = timeout, caller

    def __getattr__(self, method: str) -> MethodProxy:
        proxy = _BindingMethodProxy(
            self.worker_ctx, self.service_name, method, self.reply_listener, **self.options
        )
        proxy.publisher.caller = self.caller or worker_caller(self.worker_ctx)
        proxy.publisher.timeout = self.timeout
        return proxy


def binding_calls(proxy: ServiceProxy, caller: Caller, timeout: float) -> ServiceProxy:
    """A service proxy of Nameko's standalone ``ClusterRpcProxy`` (``rpc.partners``) whose
    calls carry ``caller`` signed for each call, as every RPC entry point requires: for
    scripts and benchmarks that call services without the gateway."""
    return _BindingServiceProxy(
        proxy.worker_ctx, proxy.service_name, proxy.reply_listener, timeout, caller, **proxy.options
    )


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
        except MessageNacked as exc:
            # The broker did not take the call (a quorum queue without a leader that
            # instant): nothing reached the service.
            raise ServiceUnavailable(f"the {self._service} service did not take the call") from exc


class _TimedService:
    def __init__(self, proxy: Any, service: str, timeout: float) -> None:
        self._proxy, self._service, self._timeout = proxy, service, timeout

    def __getattr__(self, method: str) -> _TimedMethod:
        return _TimedMethod(self._proxy, self._service, method, self._timeout)


class _ReplyListener(ReplyListener):
    """Nameko's, binding the service's reply queue to ``nameko-rpc`` without declaring the
    exchange: ``manage.py migrate`` declared it, and a service may not
    (services/common/broker.py).

    The queue is the process's own and lives as long as its connection (exclusive), where
    Nameko declares a durable one: on a cluster a durable classic queue stays bound to the
    node it was made on, and when that node is lost, declaring it again from another node
    is refused (404 "home node ... is down"). Nameko consumes every queue of a service on
    one connection, so that refusal stopped the whole service, its calls and events on the
    nodes still running included, until the lost node came back. Replies in flight when a
    connection is lost are lost either way (their callers time out)."""

    def setup(self) -> None:
        super().setup()
        self.queue = Queue(
            self.queue.name,
            exchange=referred(self.queue.exchange),
            routing_key=self.queue.routing_key,
            queue_arguments=self.queue.queue_arguments,
            durable=False,
            exclusive=True,
            auto_delete=True,
        )


class ServiceRpc(RpcProxy):
    """``self.partners.partners_covering("330106")`` with the configured RPC timeout."""

    rpc_reply_listener = _ReplyListener()

    def get_dependency(self, worker_ctx: Any) -> _TimedService:
        timeout = float(self.container.config.get("RPC_TIMEOUT", 10.0))
        proxy = _BindingServiceProxy(
            worker_ctx, self.target_service, self.rpc_reply_listener, timeout, **self.options
        )
        return _TimedService(proxy, self.target_service, timeout)
