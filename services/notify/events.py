"""The events the notify service produces: none. It tells people of other services'
events (inbox, channels) and emits no event of its own."""

from __future__ import annotations

from marshmallow import Schema

EVENTS: dict[str, type[Schema]] = {}
