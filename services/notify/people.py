"""People, as the partners service knows them: the ``Directory`` of ``recipients``, looked
up by RPC, as the system. An RPC adapter: no database, no rules."""

from __future__ import annotations

from typing import Any

from services.common.errors import NotFound


class PartnersPeople:
    """Looks people up through the partners service (its RPC proxy), as the system."""

    def __init__(self, partners: Any) -> None:
        self._partners = partners

    def recipients(
        self, permission: str, partner_id: int | None, about_partner_id: int | None = None
    ) -> list[dict]:
        """Active users holding ``permission``, of ``partner_id`` or of HQ (None); with
        ``about_partner_id``, only the HQ users who see that partner."""
        query = {"permission": permission, "partner_id": partner_id}
        if about_partner_id is not None:
            query["about_partner_id"] = about_partner_id
        return self._partners.recipients(query)

    def user(self, user_id: int) -> dict | None:
        """An active user by id, or None (unknown or inactive)."""
        try:
            user = self._partners.get_user(user_id)
        except NotFound:
            return None
        return user if user.get("active") else None
