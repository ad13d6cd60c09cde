"""The echo service of the bare ceiling (``bench.ceiling``): a Nameko service whose one
method returns its argument. No caller token is verified, no database is opened.

    python -m bench._ceiling_echo          # AMQP_URI: the ceiling's own vhost

Run as the services are (``manage.py run``): eventlet monkey-patched first, Nameko's
``ServiceRunner``, JSON, the same ``max_workers`` (``PRM_MAX_WORKERS``, 10).
"""

import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402
from typing import Any  # noqa: E402

from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

SERVICE = "bench_echo"


class EchoService:
    name = SERVICE

    @rpc
    def echo(self, value: Any) -> Any:
        return value


def main() -> None:
    config = {
        "AMQP_URI": os.environ["AMQP_URI"],
        "serializer": "json",
        "max_workers": int(os.environ.get("PRM_MAX_WORKERS", "10")),
    }
    runner = ServiceRunner(config)
    runner.add_service(EchoService)

    def shutdown(signum: int, frame: Any) -> None:
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    print(f"{SERVICE} started", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
