"""The notify service's entry points: the in-app inbox and channels (RPC), and the events
of filing, orders and commission that tell people things. Each loads its input and calls
one use case of ``inbox``, ``channels`` or ``notifications``."""

from __future__ import annotations

from services.commission import events as commission_events
from services.common.config import load_notify_settings
from services.common.entrypoints import event_handler, rpc
from services.common.errors import InvalidInput
from services.common.events import EventData, event_data, load_event
from services.common.rpc import ServiceRpc
from services.common.schemas import load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.filing import events as filing_events
from services.notify import channels, inbox, notifications
from services.notify.dispatcher import DeliveryLoop
from services.notify.people import PartnersPeople
from services.notify.schemas import (
    ChannelIn,
    ChannelListArgs,
    ChannelUpdate,
    DeliveryListArgs,
    NotificationListArgs,
)
from services.orders import events as orders_events


class NotifyService(ServiceBase):
    name = "notify"

    partners = ServiceRpc("partners")
    wake_deliveries = DeliveryLoop()

    def _notify(self, kind: str, event: dict, data: EventData) -> None:
        """Inbox messages and queued deliveries for everybody the event concerns. ``data``
        is the event's data read through its producer's schema (a mismatch is parked); it
        is passed on as that schema writes it, so that what channels are sent keeps the
        producer's wire format and the allow-lists of ``payloads`` still decide."""
        try:
            event = event | {"data": event_data(data.schema, dict(data))}
        except ValueError as exc:  # loaded, but not writable again: a malformed event
            raise InvalidInput(f"{kind} event cannot be passed on: {exc}") from exc
        people = PartnersPeople(self.partners)
        notifications.notify(self.uow, people, kind, event, utcnow(), self.wake_deliveries)

    # -- inbox ----------------------------------------------------------------------------

    @rpc
    def list_notifications(self, query: dict) -> dict:
        """The caller's messages, newest first (a page)."""
        return inbox.list_messages(self.uow, self.caller, load(NotificationListArgs, query))

    @rpc
    def count_unread(self) -> dict:
        """How many of the caller's messages are unread."""
        return inbox.unread_count(self.uow, self.caller)

    @rpc
    def mark_read(self, message_id: int) -> dict:
        """Mark one of the caller's messages read."""
        return inbox.mark_read(self.uow, self.caller, load_id(message_id), utcnow())

    @rpc
    def mark_all_read(self) -> dict:
        """Mark every message of the caller read; how many were unread."""
        return inbox.mark_all_read(self.uow, self.caller, utcnow())

    # -- channels -------------------------------------------------------------------------

    @rpc
    def list_channels(self, query: dict) -> dict:
        """The caller's channels, and its partner's if it administers them (a page)."""
        return channels.list_channels(self.uow, self.caller, load(ChannelListArgs, query))

    @rpc
    def create_channel(self, payload: dict) -> dict:
        """Register a channel; a webhook's signing secret is answered here only."""
        data = load(ChannelIn, payload)
        settings = load_notify_settings()
        return channels.create_channel(self.uow, self.caller, data, settings, utcnow())

    @rpc
    def get_channel(self, channel_id: int) -> dict:
        """One of the caller's channels."""
        return channels.get_channel(self.uow, self.caller, load_id(channel_id))

    @rpc
    def update_channel(self, channel_id: int, payload: dict) -> dict:
        """Change one of the caller's channels, or switch it off and on."""
        data = load(ChannelUpdate, payload)
        return channels.update_channel(self.uow, self.caller, load_id(channel_id), data, utcnow())

    @rpc
    def delete_channel(self, channel_id: int) -> None:
        """Remove one of the caller's channels with its delivery log."""
        channels.delete_channel(self.uow, self.caller, load_id(channel_id))

    @rpc
    def list_deliveries(self, channel_id: int, query: dict) -> dict:
        """A channel's delivery log, newest first (a page)."""
        args = load(DeliveryListArgs, query)
        return channels.list_deliveries(self.uow, self.caller, load_id(channel_id), args)

    # -- events from the filing service ---------------------------------------------------

    @event_handler("filing", "filing_submitted")
    def on_filing_submitted(self, event: dict) -> None:
        self._notify("filing_submitted", event, load_event(filing_events.FilingWaiting, event))

    @event_handler("filing", "filing_step_waiting")
    def on_filing_step_waiting(self, event: dict) -> None:
        self._notify("filing_step_waiting", event, load_event(filing_events.FilingWaiting, event))

    @event_handler("filing", "filing_approved")
    def on_filing_approved(self, event: dict) -> None:
        self._notify("filing_approved", event, load_event(filing_events.FilingDecided, event))

    @event_handler("filing", "filing_rejected")
    def on_filing_rejected(self, event: dict) -> None:
        self._notify("filing_rejected", event, load_event(filing_events.FilingRejected, event))

    @event_handler("filing", "lead_assigned")
    def on_lead_assigned(self, event: dict) -> None:
        self._notify("lead_assigned", event, load_event(filing_events.LeadAssigned, event))

    @event_handler("filing", "leads_assigned")
    def on_leads_assigned(self, event: dict) -> None:
        self._notify("leads_assigned", event, load_event(filing_events.LeadsAssigned, event))

    @event_handler("filing", "lead_claim_deadline_near")
    def on_lead_claim_deadline_near(self, event: dict) -> None:
        self._notify("lead_claim_deadline_near", event, load_event(filing_events.LeadEvent, event))

    @event_handler("filing", "lead_claim_deadlines_near")
    def on_lead_claim_deadlines_near(self, event: dict) -> None:
        data = load_event(filing_events.LeadClaimDeadlinesNear, event)
        self._notify("lead_claim_deadlines_near", event, data)

    @event_handler("filing", "protection_ending")
    def on_protection_ending(self, event: dict) -> None:
        self._notify("protection_ending", event, load_event(filing_events.CustomerEvent, event))

    @event_handler("filing", "customer_released")
    def on_customer_released(self, event: dict) -> None:
        self._notify("customer_released", event, load_event(filing_events.CustomerReleased, event))

    @event_handler("filing", "customer_claimed")
    def on_customer_claimed(self, event: dict) -> None:
        self._notify("customer_claimed", event, load_event(filing_events.CustomerClaimed, event))

    @event_handler("filing", "idle_release_near")
    def on_idle_release_near(self, event: dict) -> None:
        self._notify("idle_release_near", event, load_event(filing_events.IdleReleaseNear, event))

    @event_handler("orders", "payment_due_soon")
    def on_payment_due_soon(self, event: dict) -> None:
        self._notify("payment_due_soon", event, load_event(orders_events.PaymentDue, event))

    @event_handler("orders", "payment_overdue")
    def on_payment_overdue(self, event: dict) -> None:
        self._notify("payment_overdue", event, load_event(orders_events.PaymentOverdue, event))

    @event_handler("filing", "extension_requested")
    def on_extension_requested(self, event: dict) -> None:
        self._notify(
            "extension_requested", event, load_event(filing_events.ExtensionWaiting, event)
        )

    @event_handler("filing", "extension_step_waiting")
    def on_extension_step_waiting(self, event: dict) -> None:
        self._notify(
            "extension_step_waiting", event, load_event(filing_events.ExtensionWaiting, event)
        )

    @event_handler("filing", "extension_approved")
    def on_extension_approved(self, event: dict) -> None:
        self._notify("extension_approved", event, load_event(filing_events.ExtensionDecided, event))

    @event_handler("filing", "extension_rejected")
    def on_extension_rejected(self, event: dict) -> None:
        self._notify(
            "extension_rejected", event, load_event(filing_events.ExtensionRejected, event)
        )

    @event_handler("filing", "customer_transferred")
    def on_customer_transferred(self, event: dict) -> None:
        self._notify(
            "customer_transferred", event, load_event(filing_events.CustomerTransferred, event)
        )

    @event_handler("filing", "partner_handover_done")
    def on_partner_handover_done(self, event: dict) -> None:
        self._notify(
            "partner_handover_done", event, load_event(filing_events.PartnerHandover, event)
        )

    # -- events from the orders service (order_submitted is followed by order_step_waiting,
    # which tells the approvers; it tells nobody more) -----------------------------------

    @event_handler("orders", "order_step_waiting")
    def on_order_step_waiting(self, event: dict) -> None:
        self._notify("order_step_waiting", event, load_event(orders_events.OrderStepWaiting, event))

    @event_handler("orders", "order_approved")
    def on_order_approved(self, event: dict) -> None:
        self._notify("order_approved", event, load_event(orders_events.OrderApproved, event))

    @event_handler("orders", "order_rejected")
    def on_order_rejected(self, event: dict) -> None:
        self._notify("order_rejected", event, load_event(orders_events.OrderRejected, event))

    @event_handler("orders", "order_commented")
    def on_order_commented(self, event: dict) -> None:
        self._notify("order_commented", event, load_event(orders_events.OrderCommented, event))

    # -- events from the commission service -----------------------------------------------

    @event_handler("commission", "commission_entry_created")
    def on_commission_entry_created(self, event: dict) -> None:
        self._notify(
            "commission_entry_created", event, load_event(commission_events.EntryCreated, event)
        )

    @event_handler("commission", "statement_issued")
    def on_statement_issued(self, event: dict) -> None:
        self._notify(
            "statement_issued", event, load_event(commission_events.StatementIssued, event)
        )
