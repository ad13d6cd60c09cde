"""Taking a filing or an order through every step of its approval flow, one person per step:
segregation of duties lets nobody decide two steps of one approval."""

from __future__ import annotations

from typing import Any

from tests.support.client import Client
from tests.support.fixtures import World


class StepApprovers:
    """HQ users holding every approval permission (HQ admins), made when first needed: the
    n-th decides the n-th step of any flow, so no two steps share an approver."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clients: list[Client] = []

    def nth(self, index: int) -> Client:
        while len(self.clients) <= index:
            self.clients.append(self.world.login(self.world.user(None, ["hq_admin"])))
        return self.clients[index]

    def approve_all(self, path: str, comment: str = "同意") -> dict[str, Any]:
        """Approve ``path`` (``/api/v1/filings/<id>`` or ``/api/v1/orders/<id>``) step by
        step until no step is pending; its last answer."""
        subject = self._ok(self.nth(0).get(path))
        for _ in range(len(subject["steps"])):
            pending = [i for i, s in enumerate(subject["steps"]) if s["status"] == "pending"]
            if not pending:
                break
            approver = self.nth(pending[0])
            subject = self._ok(approver.post(f"{path}/approve", {"comment": comment}))
        return subject

    @staticmethod
    def _ok(response: Any) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        return response.json()
