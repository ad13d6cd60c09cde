"""A broker or database URI in a log line never shows its password, also when
``AMQP_URI`` names several nodes.

Nameko logs the broker's URI when a connection fails, through kombu's ``sanitize_url``,
which masks the password of the first node only: with three nodes, every process wrote
its own broker password in clear twice into its log each time a node was away.
"""

from __future__ import annotations

import logging

import pytest
from kombu.utils.url import sanitize_url

from services.common import logs

#: URL-encoded in the URI; kombu's sanitize_url writes the other nodes' decoded ("/", "@").
SECRET = "segG66-x_yZ%2Fq%40w"
NODES = ";".join(
    f"amqp://prm-s1-commission:{SECRET}@127.0.0.1:{port}/prm" for port in (5701, 5702, 5703)
)


def test_nameko_s_broker_error_line_keeps_no_password_of_any_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        logs.configure_logging("test")  # as every process of the stack logs
        # What nameko.messaging.QueueConsumer.on_connection_error writes.
        logging.getLogger("nameko.messaging").warning(
            "Error connecting to broker at {} ({}).\nRetrying in {} seconds.".format(
                sanitize_url(NODES), "[Errno 111] ECONNREFUSED", 0
            )
        )
        logging.getLogger("test").warning(
            "database at %s is away", f"postgresql://prm:{SECRET}@db:5432/prm_orders"
        )
        try:
            raise ConnectionError(f"cannot reach amqp://prm-s1-orders:{SECRET}@10.0.0.9:5672/")
        except ConnectionError:
            logging.getLogger("test").exception("lost")
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)
    written = capsys.readouterr().out
    assert SECRET not in written
    assert "segG66" not in written and "yZ/q@w" not in written
    assert written.count("prm-s1-commission:********@127.0.0.1") == 3
    assert "postgresql://prm:********@db:5432/prm_orders" in written
    assert "amqp://prm-s1-orders:********@10.0.0.9:5672/" in written  # in the traceback


def test_text_without_a_login_is_left_as_it_is() -> None:
    for text in (
        "http://127.0.0.1:8000/api/v1/me",
        "http://127.0.0.1:8000/api/v1/users/jane@example.com",
        "a:b@c",
        "ratio 1:2 at 12:00",
        "",
    ):
        assert logs.mask_uri_passwords(text) == text
