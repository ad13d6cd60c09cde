"""The approval-flow engine shared by filings and orders. Pure logic, no I/O.

A flow is an ordered list of steps: a name, the permission an approver needs, a mode
(``any``: one approver decides; ``all``: every named approver must approve) and an
optional condition on the subject (for example ``total_amount >= 100000``, or
``{"any": [...]}`` of several such conditions, which holds when one of them holds). Starting a
flow for a subject keeps the steps whose condition holds; the instance then moves step by
step. Services store instances as JSON (``to_dict``/``from_dict``) with their subject.

Segregation of duties holds for every flow: one person decides (approves or rejects) at most
one step of an instance, and the submitter decides none: 403 ``same_approver``. The
submitter is given when the flow starts; instances stored before it was kept have none, and
the one-step rule still holds for them, since it is read from the recorded actions.

Accounts count as people only if nobody made them for the occasion: a user manager could
otherwise approve one step, then create an account (or set the password or roles of another)
and decide the next step with it. So an account whose credentials (password or roles) were
set by someone else after the flow started decides none of its steps (403
``same_approver``). The caller's ``credentials_set_at`` and the start time both come in as
arguments; instances stored without a start time, and callers without a credentials time,
are not checked by this rule.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.common.errors import Forbidden, InvalidInput, InvalidState
from services.common.money import to_decimal
from services.common.timeutil import as_utc, iso

ANY, ALL = "any", "all"
#: The error code of a decision segregation of duties refuses.
SAME_APPROVER = "same_approver"
WAITING, PENDING, APPROVED, REJECTED = "waiting", "pending", "approved", "rejected"

_OPERATORS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Condition:
    """``field op value`` on the subject, compared as decimals."""

    field: str
    op: str
    value: Decimal

    def holds(self, subject: dict[str, Any]) -> bool:
        if self.field not in subject or subject[self.field] is None:
            return False
        return _OPERATORS[self.op](to_decimal(subject[self.field]), self.value)

    def to_dict(self) -> dict:
        return {"field": self.field, "op": self.op, "value": str(self.value)}


@dataclass(frozen=True)
class AnyOf:
    """Holds when at least one of its conditions holds: ``{"any": [condition, ...]}``."""

    conditions: tuple[Condition | AnyOf, ...]

    def holds(self, subject: dict[str, Any]) -> bool:
        return any(condition.holds(subject) for condition in self.conditions)

    def to_dict(self) -> dict:
        return {"any": [condition.to_dict() for condition in self.conditions]}


StepCondition = Condition | AnyOf


def condition_from_dict(raw: dict) -> StepCondition:
    """A stored condition (already validated by ``parse_flow``) back to its object."""
    if "any" in raw:
        return AnyOf(tuple(condition_from_dict(item) for item in raw["any"]))
    return Condition(raw["field"], raw["op"], to_decimal(raw["value"]))


def _parse_condition(
    raw: Any, fields: set[str] | None, problems: list[str]
) -> StepCondition | None:
    """A condition from its wire form; what is wrong is appended to ``problems``."""
    if not isinstance(raw, dict):
        problems.append("condition is an object")
        return None
    if "any" in raw:
        items = raw["any"]
        if set(raw) != {"any"} or not isinstance(items, list) or not items:
            problems.append("an 'any' condition is {'any': [condition, ...]} with one or more")
            return None
        parsed = [_parse_condition(item, fields, problems) for item in items]
        if any(item is None for item in parsed):
            return None
        return AnyOf(tuple(item for item in parsed if item is not None))
    if raw.get("op") not in _OPERATORS:
        problems.append(f"condition op is one of {sorted(_OPERATORS)}")
    elif fields is not None and raw.get("field") not in fields:
        problems.append(f"condition field is one of {sorted(fields)}")
    else:
        try:
            return Condition(raw["field"], raw["op"], to_decimal(raw["value"]))
        except (KeyError, ValueError, TypeError):
            problems.append("condition value is a number")
    return None


@dataclass(frozen=True)
class StepDef:
    name: str
    permission: str
    mode: str = ANY
    approvers: tuple[int, ...] = ()
    condition: StepCondition | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "permission": self.permission,
            "mode": self.mode,
            "approvers": list(self.approvers),
            "condition": self.condition.to_dict() if self.condition else None,
        }


def parse_flow(steps: list[dict], fields: set[str] | None = None) -> list[StepDef]:
    """Steps from their wire form; InvalidInput naming what is wrong."""
    errors: dict[str, list[str]] = {}
    parsed: list[StepDef] = []
    if not steps:
        raise InvalidInput("a flow needs at least one step", errors={"steps": ["empty"]})
    for index, raw in enumerate(steps):
        where = f"steps.{index}"
        mode = raw.get("mode", ANY)
        approvers = tuple(int(a) for a in raw.get("approvers") or ())
        if mode not in (ANY, ALL):
            errors.setdefault(where, []).append("mode is 'any' or 'all'")
        if mode == ALL and not approvers:
            errors.setdefault(where, []).append("an 'all' step names its approvers")
        condition = None
        if raw.get("condition"):
            problems: list[str] = []
            condition = _parse_condition(raw["condition"], fields, problems)
            if problems:
                errors.setdefault(where, []).extend(problems)
        parsed.append(StepDef(raw["name"], raw["permission"], mode, approvers, condition))
    _refuse_shared_named_approvers(parsed, errors)
    if errors:
        raise InvalidInput("the approval flow is not valid", errors=errors)
    return parsed


def _refuse_shared_named_approvers(steps: list[StepDef], errors: dict[str, list[str]]) -> None:
    """A person named in two ``all`` steps could sign only one of them (one step per
    person): such a flow would never finish."""
    named: set[int] = set()
    for index, step in enumerate(steps):
        if step.mode != ALL:
            continue
        shared = named & set(step.approvers)
        if shared:
            errors.setdefault(f"steps.{index}", []).append(
                f"approvers {sorted(shared)} are named in an earlier 'all' step;"
                " one person decides one step"
            )
        named |= set(step.approvers)


def _same_approver(message: str) -> Forbidden:
    return Forbidden(message, SAME_APPROVER)


@dataclass
class Action:
    user_id: int
    action: str  # "approve" or "reject"
    comment: str | None
    at: str

    def to_dict(self) -> dict:
        return {
            "user_id": self.user_id,
            "action": self.action,
            "comment": self.comment,
            "at": self.at,
        }


@dataclass
class StepState:
    definition: StepDef
    status: str = WAITING
    actions: list[Action] = field(default_factory=list)

    def approved_by(self) -> set[int]:
        return {a.user_id for a in self.actions if a.action == "approve"}

    def to_dict(self) -> dict:
        return self.definition.to_dict() | {
            "status": self.status,
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass
class FlowInstance:
    steps: list[StepState]
    status: str = PENDING
    #: The user who submitted the subject; None when unknown (instances stored before).
    submitted_by: int | None = None
    #: When the flow started; None for instances stored before it was kept.
    started_at: datetime | None = None

    @classmethod
    def start(
        cls,
        flow: list[StepDef],
        subject: dict[str, Any],
        *,
        submitted_by: int | None,
        started_at: datetime,
    ) -> FlowInstance:
        """The steps whose condition holds for ``subject``; the first one is pending.
        ``submitted_by`` will decide no step (None only where nobody submitted), nor will an
        account whose credentials someone else sets after ``started_at``."""
        steps = [
            StepState(step)
            for step in flow
            if step.condition is None or step.condition.holds(subject)
        ]
        if not steps:
            raise InvalidState("no approval step applies")
        if submitted_by is not None and any(
            step.definition.mode == ALL and submitted_by in step.definition.approvers
            for step in steps
        ):
            # An "all" step needs the submitter's signature, which it may not give.
            raise _same_approver("you are a named approver of this flow and cannot submit to it")
        instance = cls(steps, submitted_by=submitted_by, started_at=as_utc(started_at))
        instance.steps[0].status = PENDING
        return instance

    @property
    def current(self) -> StepState | None:
        return next((s for s in self.steps if s.status == PENDING), None)

    def _check_actor(
        self,
        user_id: int,
        permissions: frozenset[str] | set[str],
        credentials_set_at: datetime | None,
    ) -> StepState:
        step = self.current
        if self.status != PENDING or step is None:
            raise InvalidState(f"the approval is already {self.status}")
        if user_id is None:
            raise Forbidden("an approval step is decided by a person")
        if step.definition.permission not in permissions:
            raise Forbidden(f"this step needs permission {step.definition.permission!r}")
        if step.definition.mode == ALL:
            if user_id not in step.definition.approvers:
                raise Forbidden("you are not an approver of this step")
            if user_id in step.approved_by():
                raise InvalidState("you have already approved this step")
        self._check_segregation(user_id, step, credentials_set_at)
        return step

    def _check_segregation(
        self, user_id: int, step: StepState, credentials_set_at: datetime | None
    ) -> None:
        """Nobody decides what they submitted, nor a second step of this instance, nor with
        an account someone else set up after the flow started."""
        if user_id == self.submitted_by:
            raise _same_approver("you submitted this and cannot decide on it")
        if (
            self.started_at is not None
            and credentials_set_at is not None
            and as_utc(credentials_set_at) > self.started_at
        ):
            raise _same_approver(
                "this account was set up after the flow started: its password or roles were"
                " set by someone else since, so it cannot decide any step of this approval"
            )
        if any(
            action.user_id == user_id
            for other in self.steps
            if other is not step
            for action in other.actions
        ):
            raise _same_approver("you already decided another step of this approval")

    def approve(
        self,
        user_id: int,
        permissions: frozenset[str] | set[str],
        comment: str | None,
        at: Any,
        *,
        credentials_set_at: datetime | None = None,
    ) -> str:
        """Record an approval; returns ``"waiting"`` (the step needs more approvers),
        ``"step_approved"`` (the next step is now pending) or ``"approved"`` (all done).
        ``credentials_set_at``: when someone other than the user last set the deciding
        account's password or roles (or created it); None when unknown."""
        step = self._check_actor(user_id, permissions, credentials_set_at)
        step.actions.append(Action(user_id, "approve", comment, iso(at)))
        if step.definition.mode == ALL and not set(step.definition.approvers) <= step.approved_by():
            return WAITING
        step.status = APPROVED
        following = self.current_after(step)
        if following is None:
            self.status = APPROVED
            return APPROVED
        following.status = PENDING
        return "step_approved"

    def current_after(self, step: StepState) -> StepState | None:
        index = self.steps.index(step)
        return next((s for s in self.steps[index + 1 :] if s.status == WAITING), None)

    def reject(
        self,
        user_id: int,
        permissions: frozenset[str] | set[str],
        comment: str,
        at: Any,
        *,
        credentials_set_at: datetime | None = None,
    ) -> str:
        """Any approver of the current step may reject; the flow ends rejected
        (``credentials_set_at`` as for ``approve``)."""
        if not comment or not comment.strip():
            raise InvalidInput("a rejection needs a comment", errors={"comment": ["required"]})
        step = self._check_actor(user_id, permissions, credentials_set_at)
        step.actions.append(Action(user_id, "reject", comment, iso(at)))
        step.status = REJECTED
        self.status = REJECTED
        return REJECTED

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "submitted_by": self.submitted_by,
            "started_at": iso(self.started_at),
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict) -> FlowInstance:
        steps = []
        for raw in data["steps"]:
            cond = raw.get("condition")
            definition = StepDef(
                raw["name"],
                raw["permission"],
                raw.get("mode", ANY),
                tuple(raw.get("approvers") or ()),
                condition_from_dict(cond) if cond else None,
            )
            steps.append(
                StepState(definition, raw["status"], [Action(**a) for a in raw.get("actions", [])])
            )
        started_at = data.get("started_at")
        return cls(
            steps,
            data["status"],
            data.get("submitted_by"),
            as_utc(datetime.fromisoformat(started_at)) if started_at else None,
        )
