"""Partner grades (等级): reading them, HQ replacing the whole list, and finding the grade a
partner is given.

A grade sets a partner's cap on protected and pending customers, may replace its type's
protection days, and weights lead assignment among partners that cover a region equally
closely; filing reads all three through ``partners.partner_terms`` and
``partners.partners_covering``. A grade still given to a partner cannot be removed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.db import insert_unique
from services.common.errors import Conflict, InvalidInput
from services.common.schemas import dump
from services.common.unit_of_work import UnitOfWork
from services.partners.audit import code_list
from services.partners.models import Partner, PartnerGrade
from services.partners.schemas import PartnerGradeOut

_ORDER = (PartnerGrade.lead_weight.desc(), PartnerGrade.code)


def grade_for_partner(session: Session, code: str | None) -> PartnerGrade | None:
    """The grade ``code`` names (None for None), locked against its removal until the
    transaction ends; InvalidInput (``unknown_grade``) for a code that names none."""
    if code is None:
        return None
    grade = session.get(PartnerGrade, code, with_for_update={"read": True})
    if grade is None:
        raise InvalidInput(
            "unknown partner grade", "unknown_grade", {"grade": [f"unknown grade {code}"]}
        )
    return grade


def list_grades(uow: UnitOfWork) -> list[dict]:
    """Every grade, the heaviest lead weight first."""
    with uow:
        grades = uow.session.scalars(select(PartnerGrade).order_by(*_ORDER)).all()
        return [dump(PartnerGradeOut, grade) for grade in grades]


def set_grades(uow: UnitOfWork, caller: Caller, given: list[dict]) -> list[dict]:
    """HQ replaces the grades with ``given``: each is created or changed by its code, and
    the ones left out are removed; Conflict (``grade_in_use``) when one left out is still
    given to a partner, and then nothing changes."""
    caller.require_hq("partner.manage")
    caller.require_national()
    with uow:
        session = uow.session
        # Every grade locked: a partner given a grade while this runs waits for it, and one
        # given a grade before is seen by the check below.
        existing = {
            grade.code: grade
            for grade in session.scalars(select(PartnerGrade).with_for_update()).all()
        }
        wanted = {values["code"]: values for values in given}
        removed = sorted(set(existing) - set(wanted))
        if removed:
            in_use = sorted(
                session.scalars(
                    select(Partner.grade).where(Partner.grade.in_(removed)).distinct()
                ).all()
            )
            if in_use:
                raise Conflict(
                    "a grade still given to a partner cannot be removed",
                    "grade_in_use",
                    {"grades": [f"grade {code} is given to partners" for code in in_use]},
                )
            for code in removed:
                session.delete(existing[code])
        new, changed = [], []
        for code, values in wanted.items():
            grade = existing.get(code)
            if grade is None:
                new.append(PartnerGrade(**values))
            elif any(getattr(grade, key) != value for key, value in values.items()):
                changed.append(code)
                for key, value in values.items():
                    setattr(grade, key, value)
        session.flush()
        # Two lists sent at once that both add a code: the database refuses the second.
        insert_unique(session, Conflict("the grades changed meanwhile; send them again"), *new)
        if new or changed or removed:
            audit.record(
                uow,
                caller,
                audit.GRADES_CHANGED,
                subject_type="partner_grade",
                detail={
                    "added": code_list(grade.code for grade in new),
                    "changed": code_list(changed),
                    "removed": code_list(removed),
                },
            )
        grades = session.scalars(select(PartnerGrade).order_by(*_ORDER)).all()
        return uow.commit([dump(PartnerGradeOut, grade) for grade in grades])
