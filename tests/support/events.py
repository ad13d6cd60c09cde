"""Events published as a service's outbox relay publishes them, for the tiers that play
a producer the test does not run or cannot drive to that state."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

from nameko.standalone.events import get_event_exchange

from services.common.amqp import ConfirmingPublisher
from services.common.outbox import make_envelope
from tests.support.client import unique
from tests.support.stack import producer_login


def publish(envelope: dict, amqp_uri: str | None = None) -> dict:
    """Publish ``envelope`` (``make_envelope``'s) on its source's exchange, with confirms,
    on the run's broker unless ``amqp_uri`` says otherwise; returns the envelope."""
    uri = amqp_uri or os.environ["AMQP_URI"]
    # As the source service's own broker user where a stack gave it one: consumers accept
    # its events from that user only.
    publisher = ConfirmingPublisher(producer_login(envelope["source"], uri))
    try:
        publisher.publish(
            envelope,
            exchange=get_event_exchange(envelope["source"], {"AMQP_URI": uri}),
            routing_key=envelope["type"],
        )
    finally:
        publisher.close()
    return envelope


def publish_new(source: str, event_type: str, data: dict) -> dict:
    """Publish a new ``event_type`` event of ``source`` with ``data``; returns its envelope."""
    return publish(make_envelope(source, event_type, data))


def new_order_id() -> int:
    """An order id no order of the run has (orders' own ids are small)."""
    return 100_000_000 + secrets.randbelow(2_000_000_000)


def approved_event(
    partner_id: int,
    total: str = "100000.00",
    source: str = "partner",
    at: str | None = None,
    customer_id: int | None = None,
) -> dict:
    """An ``orders.order_approved`` envelope of a one-line order of ``partner_id`` (for
    ``customer_id``, or a customer no service knows)."""
    order_id = new_order_id()
    return make_envelope(
        "orders",
        "order_approved",
        {
            "order_id": order_id,
            "partner_id": partner_id,
            "customer_id": customer_id or new_order_id(),
            "customer_name": f"测试客户{unique()}有限公司",
            "contract_no": f"HT-{order_id}",
            "region_code": "330106",
            "province": "330000",
            "city": "330100",
            "customer_source": source,
            "total_amount": total,
            "lines": [
                {
                    "product_id": 1,
                    "sku": "SKU-1",
                    "quantity": 1,
                    "unit_price": total,
                    "amount": total,
                }
            ],
            "approved_at": at or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
    )
