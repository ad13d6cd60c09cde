"""The partners service: partners, territories, regions, people, roles and sign-in."""

from __future__ import annotations

from services.common.config import get_settings
from services.common.db import try_advisory_lock
from services.common.entrypoints import rpc, timer
from services.common.errors import Forbidden
from services.common.schemas import load, load_id, load_key
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.partners import access, domain
from services.partners.schemas import (
    LoginIn,
    PartnerCreate,
    PartnerListArgs,
    PartnerTypeUpdate,
    PartnerUpdate,
    RecipientsArgs,
    RefreshIn,
    RegionListArgs,
    RegionNamesArgs,
    ResolveArgs,
    RoleCreate,
    RoleListArgs,
    RoleUpdate,
    TerritoryIn,
    UserCreate,
    UserListArgs,
    UserUpdate,
)


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
        data = load(LoginIn, payload)
        profile = access.authenticate(
            self.db, data["username"], data["password"], str(address)[:64]
        )
        return {
            "user": profile,
            "refresh_token": access.issue_refresh_token(self.db, profile["id"]),
        }

    @timer(interval=get_settings().timer_interval)
    def forget_old_sign_ins(self) -> None:
        """Forget failed sign-ins that no longer count and addresses past their keep; one
        replica does each tick."""
        if try_advisory_lock(self.db, "partners.sign_ins"):
            access.forget_old_sign_ins(self.db, utcnow())

    @rpc
    def refresh(self, payload: dict) -> dict:
        """Rotate a refresh token: the profile and the new token."""
        self._system_only()
        data = load(RefreshIn, payload)
        profile, token = access.rotate_refresh_token(self.db, data["refresh_token"])
        return {"user": profile, "refresh_token": token}

    @rpc
    def logout(self, payload: dict) -> None:
        """Revoke the calling user's refresh token (another user's is left alone)."""
        if self.caller.user_id is None:
            raise Forbidden("only a signed-in user may log out")
        token = load(RefreshIn, payload)["refresh_token"]
        access.revoke_refresh_token(self.db, token, self.caller.user_id)

    @rpc
    def get_caller(self, user_id: int, token_version: int | None = None) -> dict:
        """The user's current roles, permissions and data scope; Unauthenticated if they
        or their partner may not act, or if ``token_version`` (the access token's) is not
        the user's current one."""
        self._system_only()
        return access.caller_profile(self.db, load_id(user_id, "user_id"), token_version)

    # -- partners -----------------------------------------------------------------------

    @rpc
    def list_partners(self, query: dict) -> dict:
        return domain.list_partners(self.db, self.caller, load(PartnerListArgs, query))

    @rpc
    def get_partner(self, partner_id: int) -> dict:
        return domain.get_partner(self.db, self.caller, load_id(partner_id))

    @rpc(idempotent=True)
    def create_partner(self, payload: dict) -> dict:
        return domain.create_partner(self.db, self.caller, load(PartnerCreate, payload), self.emit)

    @rpc
    def update_partner(self, partner_id: int, payload: dict) -> dict:
        return domain.update_partner(
            self.db, self.caller, load_id(partner_id), load(PartnerUpdate, payload), self.emit
        )

    @rpc
    def set_territory(self, partner_id: int, payload: dict) -> dict:
        data = load(TerritoryIn, payload)
        return domain.set_territory(
            self.db, self.caller, load_id(partner_id), data["territory"], self.emit
        )

    @rpc(idempotent=True)
    def suspend_partner(self, partner_id: int) -> dict:
        return domain.change_status(self.db, self.caller, load_id(partner_id), "suspend", self.emit)

    @rpc(idempotent=True)
    def activate_partner(self, partner_id: int) -> dict:
        return domain.change_status(
            self.db, self.caller, load_id(partner_id), "activate", self.emit
        )

    @rpc(idempotent=True)
    def terminate_partner(self, partner_id: int) -> dict:
        return domain.change_status(
            self.db, self.caller, load_id(partner_id), "terminate", self.emit
        )

    @rpc
    def partners_covering(self, region_code: str) -> list[dict]:
        """Active partners whose territory covers the region, most specific first."""
        data = load(RegionListArgs, {"parent": region_code})
        return domain.partners_covering(self.db, data["parent"])

    @rpc
    def partner_terms(self, partner_id: int) -> dict | None:
        """An active partner's protection days and claim hours; None if it is not active."""
        return domain.partner_terms(self.db, load_id(partner_id, "partner_id"))

    @rpc
    def list_partner_types(self) -> list[dict]:
        return domain.list_partner_types(self.db)

    @rpc
    def update_partner_type(self, code: str, payload: dict) -> dict:
        return domain.update_partner_type(
            self.db, self.caller, load_key(code), load(PartnerTypeUpdate, payload), self.emit
        )

    # -- regions ------------------------------------------------------------------------

    @rpc
    def list_regions(self, query: dict) -> list[dict]:
        return domain.list_regions(load(RegionListArgs, query)["parent"])

    @rpc
    def region_names(self, query: dict) -> dict:
        """``{code: name}`` of the given region codes, for reports that show names."""
        return domain.region_names(load(RegionNamesArgs, query)["codes"])

    @rpc
    def resolve_address(self, query: dict) -> dict:
        return domain.resolve_address(load(ResolveArgs, query)["address"])

    # -- users, roles, permissions ------------------------------------------------------

    @rpc
    def list_users(self, query: dict) -> dict:
        return access.list_users(self.db, self.caller, load(UserListArgs, query))

    @rpc
    def get_user(self, user_id: int) -> dict:
        return access.get_user(self.db, self.caller, load_id(user_id))

    @rpc(idempotent=True)
    def create_user(self, payload: dict) -> dict:
        return access.create_user(self.db, self.caller, load(UserCreate, payload), self.emit)

    @rpc
    def update_user(self, user_id: int, payload: dict) -> dict:
        return access.update_user(
            self.db, self.caller, load_id(user_id), load(UserUpdate, payload), self.emit
        )

    @rpc
    def recipients(self, query: dict) -> list[dict]:
        """Active users holding a permission, of one partner or of HQ (for notifications)."""
        self._system_only()
        data = load(RecipientsArgs, query)
        return access.recipients(self.db, data["permission"], data["partner_id"])

    @rpc
    def list_roles(self, query: dict) -> dict:
        return access.list_roles(self.db, self.caller, load(RoleListArgs, query))

    @rpc
    def get_role(self, role_id: int) -> dict:
        return access.get_role(self.db, self.caller, load_id(role_id))

    @rpc(idempotent=True)
    def create_role(self, payload: dict) -> dict:
        return access.create_role(self.db, self.caller, load(RoleCreate, payload), self.emit)

    @rpc
    def update_role(self, role_id: int, payload: dict) -> dict:
        return access.update_role(
            self.db, self.caller, load_id(role_id), load(RoleUpdate, payload), self.emit
        )

    @rpc
    def list_permissions(self) -> list[dict]:
        return access.permission_catalogue()
