"""The notify service: in-app inbox, channels, and the events that tell people things."""

from __future__ import annotations

from services.common.entrypoints import event_handler, rpc
from services.common.rpc import ServiceRpc
from services.common.schemas import load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.notify import channels, domain, inbox
from services.notify.directory import PartnersDirectory
from services.notify.dispatcher import DeliveryLoop
from services.notify.schemas import (
    ChannelIn,
    ChannelListArgs,
    ChannelUpdate,
    DeliveryListArgs,
    NotificationListArgs,
)
from services.notify.settings import load_settings


class NotifyService(ServiceBase):
    name = "notify"

    partners = ServiceRpc("partners")
    wake_deliveries = DeliveryLoop()

    def _notify(self, kind: str, event: dict) -> None:
        """Inbox messages and queued deliveries for everybody the event concerns."""
        queued = domain.notify(self.db, kind, event, PartnersDirectory(self.partners), utcnow())
        if queued:
            self.wake_deliveries()

    # -- inbox ----------------------------------------------------------------------------

    @rpc
    def list_notifications(self, query: dict) -> dict:
        return inbox.list_messages(self.db, self.caller, load(NotificationListArgs, query))

    @rpc
    def count_unread(self) -> dict:
        return inbox.unread_count(self.db, self.caller)

    @rpc
    def mark_read(self, message_id: int) -> dict:
        return inbox.mark_read(self.db, self.caller, load_id(message_id), utcnow())

    @rpc
    def mark_all_read(self) -> dict:
        return inbox.mark_all_read(self.db, self.caller, utcnow())

    # -- channels -------------------------------------------------------------------------

    @rpc
    def list_channels(self, query: dict) -> dict:
        return channels.list_channels(self.db, self.caller, load(ChannelListArgs, query))

    @rpc
    def create_channel(self, payload: dict) -> dict:
        data = load(ChannelIn, payload)
        return channels.create_channel(self.db, self.caller, data, load_settings(), utcnow())

    @rpc
    def get_channel(self, channel_id: int) -> dict:
        return channels.get_channel(self.db, self.caller, load_id(channel_id))

    @rpc
    def update_channel(self, channel_id: int, payload: dict) -> dict:
        data = load(ChannelUpdate, payload)
        return channels.update_channel(self.db, self.caller, load_id(channel_id), data, utcnow())

    @rpc
    def delete_channel(self, channel_id: int) -> None:
        channels.delete_channel(self.db, self.caller, load_id(channel_id))

    @rpc
    def list_deliveries(self, channel_id: int, query: dict) -> dict:
        args = load(DeliveryListArgs, query)
        return channels.list_deliveries(self.db, self.caller, load_id(channel_id), args)

    # -- events from the filing service ---------------------------------------------------

    @event_handler("filing", "filing_submitted")
    def on_filing_submitted(self, event: dict) -> None:
        self._notify("filing_submitted", event)

    @event_handler("filing", "filing_step_waiting")
    def on_filing_step_waiting(self, event: dict) -> None:
        self._notify("filing_step_waiting", event)

    @event_handler("filing", "filing_approved")
    def on_filing_approved(self, event: dict) -> None:
        self._notify("filing_approved", event)

    @event_handler("filing", "filing_rejected")
    def on_filing_rejected(self, event: dict) -> None:
        self._notify("filing_rejected", event)

    @event_handler("filing", "lead_assigned")
    def on_lead_assigned(self, event: dict) -> None:
        self._notify("lead_assigned", event)

    @event_handler("filing", "lead_claim_deadline_near")
    def on_lead_claim_deadline_near(self, event: dict) -> None:
        self._notify("lead_claim_deadline_near", event)

    @event_handler("filing", "protection_ending")
    def on_protection_ending(self, event: dict) -> None:
        self._notify("protection_ending", event)

    @event_handler("filing", "customer_released")
    def on_customer_released(self, event: dict) -> None:
        self._notify("customer_released", event)

    @event_handler("filing", "customer_transferred")
    def on_customer_transferred(self, event: dict) -> None:
        self._notify("customer_transferred", event)

    # -- events from the orders service (order_submitted is followed by order_step_waiting,
    # which tells the approvers; it tells nobody more) -----------------------------------

    @event_handler("orders", "order_step_waiting")
    def on_order_step_waiting(self, event: dict) -> None:
        self._notify("order_step_waiting", event)

    @event_handler("orders", "order_approved")
    def on_order_approved(self, event: dict) -> None:
        self._notify("order_approved", event)

    @event_handler("orders", "order_rejected")
    def on_order_rejected(self, event: dict) -> None:
        self._notify("order_rejected", event)

    @event_handler("orders", "order_commented")
    def on_order_commented(self, event: dict) -> None:
        self._notify("order_commented", event)

    # -- events from the commission service -----------------------------------------------

    @event_handler("commission", "commission_entry_created")
    def on_commission_entry_created(self, event: dict) -> None:
        self._notify("commission_entry_created", event)

    @event_handler("commission", "statement_issued")
    def on_statement_issued(self, event: dict) -> None:
        self._notify("statement_issued", event)
