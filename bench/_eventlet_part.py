"""The monkey-patched half of ``bench.rpc_roundtrip`` (run by it as a subprocess).

Nameko's standalone ``ClusterRpcProxy`` needs ``eventlet.monkey_patch()``, and once a
process is patched its threads are green threads on one OS thread. So this half runs in
a process of its own, and measures under the same conditions:

- Nameko's ``ClusterRpcProxy``, one proxy per green thread (a shared one deadlocks);
- our ``RpcClient``, one client shared by the green threads (a reference, so the
  proxy is compared with the client on equal terms).

Prints one JSON document on stdout: a list of ``Stats.summary()``.

    python -m bench._eventlet_part --calls N --threads T --user-id ID [--port P]
"""

import eventlet

eventlet.monkey_patch()  # first: before kombu, Nameko or the stdlib socket is imported

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench._common import GREEN_CLIENT, NAMEKO, cpu_seconds, drive, find_stack  # noqa: E402
from gateway.rpc import RpcClient  # noqa: E402
from services.common.config import get_settings  # noqa: E402
from services.common.context import Caller  # noqa: E402
from services.common.rpc import binding_calls  # noqa: E402

BENCH = Caller.system_caller("bench")


def nameko_factory(method: str, args: tuple, timeout: float) -> Callable:
    config = get_settings().nameko_config()

    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        # One proxy per (green) thread; each call carries the caller signed for that call
        # (the ``nameko.caller`` header that our Rpc entrypoint verifies).
        with ClusterRpcProxy(config, timeout=timeout) as rpc:
            service = binding_calls(rpc.partners, BENCH, timeout)
            yield lambda: getattr(service, method)(*args)

    return factory


def client_factory(client: RpcClient, method: str, args: tuple) -> Callable:
    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        yield lambda: client.call("partners", method, *args, caller=BENCH)

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--user-id", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8000, help="the stack's gateway port")
    args = parser.parse_args()
    stack = find_stack(args.port)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    methods = [("get_caller", (args.user_id,)), ("ping", ())]
    concurrencies = sorted({1, args.threads})
    results = []
    client = RpcClient(get_settings().amqp_uri, timeout=args.timeout)
    try:
        for method, call_args in methods:
            for threads in concurrencies:
                for label, factory in (
                    (NAMEKO, nameko_factory(method, call_args, args.timeout)),
                    (GREEN_CLIENT, client_factory(client, method, call_args)),
                ):
                    stats = drive(
                        factory,
                        label=label,
                        method=method,
                        threads=threads,
                        calls=args.calls,
                        warmup=args.warmup,
                        cpu_probe=lambda: cpu_seconds(stack),
                    )
                    results.append(stats.summary())
    finally:
        client.close()
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
