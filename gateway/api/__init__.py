"""The HTTP API, one blueprint per resource group."""

from gateway.api import (
    audit,
    auth,
    commission,
    filing,
    flows,
    notifications,
    orders,
    partners,
    people,
)

ALL_BLUEPRINTS = (
    auth.blp,
    partners.blp,
    people.blp,
    filing.blp,
    flows.blp,
    orders.products_blp,
    orders.blp,
    orders.reports_blp,
    commission.blp,
    notifications.blp,
    audit.blp,
)
