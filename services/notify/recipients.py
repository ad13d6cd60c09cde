"""Who hears of an event.

A partner-directed event goes to the users of that partner who hold the permission that
lets them act on it (and to the partner's own channels); an approval step goes to the HQ
users holding the step's permission, or only to its named approvers when every one of
them must approve (mode ``all``); a comment goes to the order's participants but not to
its author. People are looked up through a ``Directory`` (the partners service), so these
rules stay free of RPC.

Pure: the ``Directory`` is given (``people`` asks the partners service).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class MalformedEvent(ValueError):
    """The event lacks what is needed to know whom to tell (it is retried, then parked)."""


class Directory(Protocol):
    def recipients(
        self, permission: str, partner_id: int | None, about_partner_id: int | None = None
    ) -> list[dict]:
        """Active users holding ``permission``, of ``partner_id`` or of HQ (None):
        ``[{id, username, display_name, email, partner_id, language}]``; with
        ``about_partner_id``, only the HQ users who see that partner (regional HQ staff of
        other regions left out)."""

    def user(self, user_id: int) -> dict | None:
        """An active user by id (same fields), or None."""


@dataclass(frozen=True)
class Audience:
    """Holders of ``permission`` in ``partner_id`` (None: HQ), narrowed to ``user_ids`` when
    given; with no permission, exactly the users ``user_ids``. ``partner_directed``: the
    partner's own channels hear of it too. ``variant`` picks the template."""

    permission: str | None
    partner_id: int | None
    user_ids: frozenset[int] | None = None
    variant: str = ""
    partner_directed: bool = False
    #: The partner an approval step is about: HQ staff limited to other regions hear
    #: nothing of it.
    about_partner_id: int | None = None


#: Partner-directed events and the permission of the users who act on them.
PARTNER_EVENTS: dict[str, str] = {
    "filing_approved": "customer.create",
    "filing_rejected": "customer.create",
    "protection_ending": "customer.create",
    "customer_released": "customer.create",
    "customer_claimed": "customer.create",
    "idle_release_near": "customer.create",
    "extension_approved": "customer.create",
    "extension_rejected": "customer.create",
    "lead_assigned": "lead.claim",
    "leads_assigned": "lead.claim",
    "lead_claim_deadline_near": "lead.claim",
    "lead_claim_deadlines_near": "lead.claim",
    "order_approved": "order.create",
    "order_rejected": "order.create",
    "commission_entry_created": "report.read",
    "statement_issued": "commission.confirm",
}
#: Events that tell HQ, and the permission of the HQ users told (of the partner's regions).
HQ_EVENTS: dict[str, str] = {"partner_handover_done": "partner.manage"}
#: Events that tell a partner's users and the HQ users of its regions (variant ``hq``): the
#: permission of each (payment reminders: the partner's order makers, HQ finance).
PARTNER_AND_HQ_EVENTS: dict[str, tuple[str, str]] = {
    "payment_due_soon": ("order.create", "payment.record"),
    "payment_overdue": ("order.create", "payment.record"),
}
APPROVAL_EVENTS = frozenset(
    {
        "filing_submitted",
        "filing_step_waiting",
        "order_step_waiting",
        "extension_requested",
        "extension_step_waiting",
    }
)


def _id(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEvent(f"{key} is missing or not an id")
    return value


def _approval(data: dict[str, Any]) -> Audience:
    step = data.get("step")
    if not isinstance(step, dict) or not step.get("permission"):
        raise MalformedEvent("step with a permission is required")
    approvers = [a for a in step.get("approvers") or [] if isinstance(a, int)]
    named = frozenset(approvers) if step.get("mode") == "all" and approvers else None
    about = data.get("partner_id")
    return Audience(
        str(step["permission"]),
        None,
        user_ids=named,
        about_partner_id=about if isinstance(about, int) and not isinstance(about, bool) else None,
    )


def audiences(kind: str, data: dict[str, Any]) -> list[Audience]:
    """Whom an event of ``kind`` is for; empty for an event that tells nobody."""
    if kind in APPROVAL_EVENTS:
        return [_approval(data)]
    if kind == "customer_transferred":
        permission = "customer.create"
        return [
            Audience(permission, _id(data, "partner_id"), variant="in", partner_directed=True),
            Audience(
                permission, _id(data, "from_partner_id"), variant="out", partner_directed=True
            ),
        ]
    if kind == "order_commented":
        author = data.get("author_user_id")
        participants = {
            uid
            for uid in data.get("participant_user_ids") or []
            if isinstance(uid, int) and uid != author
        }
        return [Audience(None, None, user_ids=frozenset(participants))] if participants else []
    if kind in PARTNER_AND_HQ_EVENTS:
        partner_permission, hq_permission = PARTNER_AND_HQ_EVENTS[kind]
        partner_id = _id(data, "partner_id")
        return [
            Audience(partner_permission, partner_id, partner_directed=True),
            Audience(hq_permission, None, variant="hq", about_partner_id=partner_id),
        ]
    if kind in HQ_EVENTS:
        return [Audience(HQ_EVENTS[kind], None, about_partner_id=_id(data, "partner_id"))]
    if kind in PARTNER_EVENTS:
        if data.get("partner_id") is None and kind.startswith("lead"):
            return []  # a lead left in the HQ queue tells no partner
        variant = "reversal" if data.get("kind") == "reversal" else ""
        if kind == "commission_entry_created" and data.get("payment_id") is not None:
            variant = "refunded" if variant else "collected"
        if kind == "customer_released" and data.get("kind") in ("owner", "idle", "terminated"):
            variant = str(data["kind"])  # given back, idle or terminated, not expired
        if kind == "lead_assigned" and data.get("by_hand") is True:
            variant = "by_hand"  # HQ chose the partner, and says who and why
        return [
            Audience(
                PARTNER_EVENTS[kind],
                _id(data, "partner_id"),
                variant=variant,
                partner_directed=True,
            )
        ]
    return []


def resolve(audience: Audience, directory: Directory) -> list[dict]:
    """The people of ``audience``, in a stable order."""
    if audience.permission is None:
        people = [directory.user(uid) for uid in sorted(audience.user_ids or ())]
        return [person for person in people if person is not None]
    people = directory.recipients(
        audience.permission, audience.partner_id, audience.about_partner_id
    )
    if audience.user_ids is not None:
        people = [person for person in people if person["id"] in audience.user_ids]
    return people
