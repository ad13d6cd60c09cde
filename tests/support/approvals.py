"""Taking a filing or an order through every step of its approval flow, one person per step:
segregation of duties lets nobody decide two steps of one approval, nor with an account set up
after the approval started."""

from __future__ import annotations

from typing import Any

from tests.support.client import Client
from tests.support.world import World


class StepApprovers:
    """HQ users holding every approval permission (HQ admins), one per step: the n-th decides
    the n-th step of any flow, so no two steps share an approver.

    They are all made at once, when this is made: an account made after a flow started
    decides none of its steps, so make this before submitting what it will approve."""

    def __init__(self, world: World, steps: int = 3) -> None:
        self.world = world
        self.clients = [world.login(world.user(None, ["hq_admin"])) for _ in range(steps)]

    def nth(self, index: int) -> Client:
        assert index < len(self.clients), (
            f"a flow with more than {len(self.clients)} steps: make StepApprovers with more"
            " steps, before anything is submitted"
        )
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
