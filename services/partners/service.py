"""The partners service's entry points: partners, grades, territories, regions, people,
roles and sign-in. Each loads its input and calls one use case (``partners``, ``grades``,
``regions``, ``signin``, ``users``, ``roles``) with the unit of work and the caller.

Passwords and refresh tokens cross the bus sealed (``sealing.seal_for``): they arrive
sealed for this service and are opened here, and a refresh token leaves sealed for the
gateway; one that arrives in plain text is refused."""

from __future__ import annotations

from services.common.audit import AUDIT_RECORDED, AuditRecorded
from services.common.config import get_settings
from services.common.entrypoints import event_handler, rpc, timer
from services.common.errors import Forbidden
from services.common.events import load_event, occurred_at
from services.common.schemas import load, load_id, load_key
from services.common.sealing import opened_field, seal_for
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.partners import audit, grades, partners, regions, roles, signin, users
from services.partners.schemas import (
    AuditListArgs,
    LoginIn,
    OwnPasswordIn,
    PartnerCreate,
    PartnerGradesIn,
    PartnerListArgs,
    PartnerTypeUpdate,
    PartnerUpdate,
    RecipientsArgs,
    RefreshIn,
    RegionListArgs,
    RegionNamesArgs,
    ResolveArgs,
    ResolveManyArgs,
    RoleCreate,
    RoleListArgs,
    RoleUpdate,
    TerminateIn,
    TerritoryIn,
    UserCreate,
    UserListArgs,
    UserUpdate,
)

#: Who the secrets of the replies are sealed for (``sealing.seal_for``).
GATEWAY = "gateway"


def _sealed_reply(answer: dict) -> dict:
    """``answer`` with its refresh token sealed for the gateway."""
    return answer | {"refresh_token": seal_for(GATEWAY, answer["refresh_token"])}


class PartnersService(ServiceBase):
    name = "partners"

    def _system_only(self) -> None:
        if not self.caller.is_system:
            raise Forbidden("only the platform may call this")

    # -- sign-in ------------------------------------------------------------------------

    @rpc
    def authenticate(self, payload: dict, address: str = "unknown") -> dict:
        """The user's profile (with the ``token_version`` its access token carries) and a
        new refresh token; Unauthenticated, or TooManyRequests with ``retry_after`` while
        the account must wait after failures from ``address``."""
        self._system_only()
        data = load(LoginIn, opened_field(payload, "password", self.name))
        answer = signin.authenticate(
            self.uow, data["username"], data["password"], str(address)[:64]
        )
        return _sealed_reply(answer)

    @timer(interval=get_settings().timer_interval)
    def forget_old_sign_ins(self) -> None:
        """Forget failed sign-ins that no longer count and addresses past their keep; one
        replica does each tick."""
        signin.forget_old_sign_ins(self.uow, utcnow())

    @rpc
    def refresh(self, payload: dict) -> dict:
        """Rotate a refresh token: the profile and the new token."""
        self._system_only()
        token = load(RefreshIn, opened_field(payload, "refresh_token", self.name))["refresh_token"]
        return _sealed_reply(signin.refresh(self.uow, token))

    @rpc
    def logout(self, payload: dict) -> None:
        """Revoke the calling user's refresh token (another user's is left alone)."""
        if self.caller.user_id is None:
            raise Forbidden("only a signed-in user may log out")
        token = load(RefreshIn, opened_field(payload, "refresh_token", self.name))["refresh_token"]
        signin.logout(self.uow, token, self.caller.user_id)

    @rpc
    def get_caller(self, user_id: int, token_version: int | None = None) -> dict:
        """The user's current roles, permissions and data scope; Unauthenticated if they
        or their partner may not act, or if ``token_version`` (the access token's) is not
        the user's current one."""
        self._system_only()
        return signin.get_caller(self.uow, load_id(user_id, "user_id"), token_version)

    # -- partners -----------------------------------------------------------------------

    @rpc
    def list_partners(self, query: dict) -> dict:
        """A page of the partners in the caller's scope."""
        return partners.list_partners(self.uow, self.caller, load(PartnerListArgs, query))

    @rpc
    def get_partner(self, partner_id: int) -> dict:
        """A partner in the caller's scope."""
        return partners.get_partner(self.uow, self.caller, load_id(partner_id))

    @rpc(idempotent=True)
    def create_partner(self, payload: dict) -> dict:
        """HQ creates a partner with its territory."""
        data = load(PartnerCreate, payload)
        return partners.create_partner(self.uow, self.caller, data)

    @rpc
    def update_partner(self, partner_id: int, payload: dict) -> dict:
        """HQ changes a partner."""
        partner_id = load_id(partner_id)
        data = load(PartnerUpdate, payload)
        return partners.update_partner(self.uow, self.caller, partner_id, data)

    @rpc
    def set_territory(self, partner_id: int, payload: dict) -> dict:
        """HQ replaces a partner's territory."""
        codes = load(TerritoryIn, payload)["territory"]
        return partners.set_territory(self.uow, self.caller, load_id(partner_id), codes)

    @rpc(idempotent=True)
    def suspend_partner(self, partner_id: int) -> dict:
        """HQ suspends an active partner: its users are refused at once."""
        return partners.change_status(self.uow, self.caller, load_id(partner_id), "suspend")

    @rpc(idempotent=True)
    def activate_partner(self, partner_id: int) -> dict:
        """HQ activates a suspended partner again."""
        return partners.change_status(self.uow, self.caller, load_id(partner_id), "activate")

    @rpc(idempotent=True)
    def terminate_partner(self, partner_id: int, payload: dict | None = None) -> dict:
        """HQ terminates a partner, for good, saying how its customers are handed over
        (none: released to the pool)."""
        data = load(TerminateIn, payload or {})
        return partners.change_status(self.uow, self.caller, load_id(partner_id), "terminate", data)

    @rpc
    def partners_covering(self, region_code: str) -> list[dict]:
        """Active partners whose territory covers the region, most specific first."""
        data = load(RegionListArgs, {"parent": region_code})
        return partners.partners_covering(self.uow, data["parent"])

    @rpc
    def partner_terms(self, partner_id: int) -> dict | None:
        """An active partner's terms (protection days, claim hours, its grade's cap and lead
        weight, idle release and cooldown); None if it is not active."""
        return partners.partner_terms(self.uow, load_id(partner_id, "partner_id"))

    @rpc
    def list_partner_types(self) -> list[dict]:
        """Every partner type."""
        return partners.list_partner_types(self.uow)

    @rpc
    def update_partner_type(self, code: str, payload: dict) -> dict:
        """HQ changes a partner type."""
        code = load_key(code)
        data = load(PartnerTypeUpdate, payload)
        return partners.update_partner_type(self.uow, self.caller, code, data)

    # -- grades -------------------------------------------------------------------------

    @rpc
    def list_partner_grades(self) -> list[dict]:
        """Every partner grade."""
        return grades.list_grades(self.uow)

    @rpc
    def set_partner_grades(self, payload: dict) -> list[dict]:
        """HQ replaces the partner grades with the list given."""
        data = load(PartnerGradesIn, payload)
        return grades.set_grades(self.uow, self.caller, data["grades"])

    # -- regions ------------------------------------------------------------------------

    @rpc
    def list_regions(self, query: dict) -> list[dict]:
        """The regions below a parent (the provinces without one)."""
        return regions.list_regions(load(RegionListArgs, query)["parent"])

    @rpc
    def region_names(self, query: dict) -> dict:
        """``{code: name}`` of the given region codes, for reports that show names."""
        return regions.region_names(load(RegionNamesArgs, query)["codes"])

    @rpc
    def resolve_address(self, query: dict) -> dict:
        """The province, city and district an address names."""
        return regions.resolve_address(load(ResolveArgs, query)["address"])

    @rpc
    def resolve_addresses(self, query: dict) -> list[dict]:
        """``resolve_address`` for many addresses at once (a lead import's batch), in order."""
        return [regions.resolve_address(a) for a in load(ResolveManyArgs, query)["addresses"]]

    # -- users, roles, permissions ------------------------------------------------------

    @rpc
    def list_users(self, query: dict) -> dict:
        """A page of the users the caller manages."""
        return users.list_users(self.uow, self.caller, load(UserListArgs, query))

    @rpc
    def get_user(self, user_id: int) -> dict:
        """The caller itself, or a user it manages."""
        return users.get_user(self.uow, self.caller, load_id(user_id))

    @rpc(idempotent=True)
    def create_user(self, payload: dict) -> dict:
        """A new user, with roles the caller may give."""
        data = load(UserCreate, opened_field(payload, "password", self.name))
        return users.create_user(self.uow, self.caller, data)

    @rpc
    def update_user(self, user_id: int, payload: dict) -> dict:
        """Change a user the caller manages."""
        user_id = load_id(user_id)
        data = load(UserUpdate, opened_field(payload, "password", self.name))
        return users.update_user(self.uow, self.caller, user_id, data)

    @rpc
    def change_own_password(self, payload: dict) -> None:
        """The caller replaces its own password, proving the current one; every session of
        the caller ends."""
        opened = opened_field(payload, "current_password", self.name)
        data = load(OwnPasswordIn, opened_field(opened, "new_password", self.name))
        users.change_own_password(
            self.uow, self.caller, data["current_password"], data["new_password"]
        )

    @rpc
    def recipients(self, query: dict) -> list[dict]:
        """Active users holding a permission, of one partner or of HQ (for notifications)."""
        self._system_only()
        data = load(RecipientsArgs, query)
        return users.recipients(
            self.uow, data["permission"], data["partner_id"], data["about_partner_id"]
        )

    @rpc
    def list_roles(self, query: dict) -> dict:
        """A page of the roles the caller may see."""
        return roles.list_roles(self.uow, self.caller, load(RoleListArgs, query))

    @rpc
    def get_role(self, role_id: int) -> dict:
        """One role the caller may see."""
        return roles.get_role(self.uow, self.caller, load_id(role_id))

    @rpc(idempotent=True)
    def create_role(self, payload: dict) -> dict:
        """A new role, holding only permissions the caller may hand out."""
        return roles.create_role(self.uow, self.caller, load(RoleCreate, payload))

    @rpc
    def update_role(self, role_id: int, payload: dict) -> dict:
        """Change a role the caller may edit."""
        role_id = load_id(role_id)
        data = load(RoleUpdate, payload)
        return roles.update_role(self.uow, self.caller, role_id, data)

    @rpc
    def list_permissions(self) -> list[dict]:
        """The permission catalogue."""
        return roles.list_permissions()

    # -- the audit log ------------------------------------------------------------------

    @rpc
    def list_audit(self, query: dict) -> dict:
        """A page of the audit log, newest first (HQ ``audit.read``)."""
        return audit.list_records(self.uow, self.caller, load(AuditListArgs, query))

    # What the services record (``services.common.audit``), one handler per service of
    # ``audit.RECORDING_SERVICES``: the exchange an event came from names its source.

    @event_handler("partners", AUDIT_RECORDED)
    def on_partners_audit_recorded(self, event: dict) -> None:
        """Keep an audit record of the partners service."""
        record = load_event(AuditRecorded, event)
        audit.append(self.uow, "partners", event["id"], occurred_at(event), record)

    @event_handler("filing", AUDIT_RECORDED)
    def on_filing_audit_recorded(self, event: dict) -> None:
        """Keep an audit record of the filing service."""
        record = load_event(AuditRecorded, event)
        audit.append(self.uow, "filing", event["id"], occurred_at(event), record)

    @event_handler("orders", AUDIT_RECORDED)
    def on_orders_audit_recorded(self, event: dict) -> None:
        """Keep an audit record of the orders service."""
        record = load_event(AuditRecorded, event)
        audit.append(self.uow, "orders", event["id"], occurred_at(event), record)

    @event_handler("commission", AUDIT_RECORDED)
    def on_commission_audit_recorded(self, event: dict) -> None:
        """Keep an audit record of the commission service."""
        record = load_event(AuditRecorded, event)
        audit.append(self.uow, "commission", event["id"], occurred_at(event), record)
