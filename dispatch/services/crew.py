"""The crew's work: field reports with photos (F8), the meter well's on-site check (F10),
and what the crew page reads besides the case list (visits, photos, checks).

Every change is one unit of work. A field report is the hotline's intake, the
assignment to the reporter and the photos, committed together: the intake and
lifecycle services run inside this module's transaction
(:func:`hotline.services.context.in_unit`). The
on-site check of a meter well opens in the transaction that completes the
repair (``hotline.services.site_checks``, called by the action service); this
module lists and records the checks. The rules are ``dispatch.domain.crew``
and ``hotline.domain.site_checks``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.domain import crew as rules
from hotline.domain import site_checks as site_check_rules
from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hotline.domain.intake import IntakeCommand, IntakeOutcome, required_text
from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import Category, Channel, Priority, Role, TriageOutcome
from hotline.models import Appointment, Case, CasePhoto, SiteCheck
from hotline.services import deadlines
from hotline.services.access import Actor, can_view, lock_case
from hotline.services.actions import transition
from hotline.services.audit import append_event
from hotline.services.contacts import intake
from hotline.services.context import Services, check_text, in_unit, publish_change

#: The folder under the instance folder where photos are kept, one folder per case.
UPLOADS = "uploads"


# -- field reports (F8) ----------------------------------------------------------------


@dataclass(frozen=True)
class FieldReport:
    """What a crew reports from the field: the fault, where, and whom to contact."""

    category: Category | str
    problem: str
    address: str
    contact_phone: str
    contact_name: str = ""
    need: str = ""
    priority: Priority = Priority.NORMAL


def open_field_case(
    svc: Services,
    actor: Actor,
    report: FieldReport,
    photos: Sequence[rules.PhotoUpload],
    instance_path: str | Path,
) -> Case:
    """F8: a crew member opens a case on the spot (自开单); returns the case.

    The reporter is its first responder (G4); the case is handed to dispatch
    and assigned at once to the reporter (their own work), and its running
    clocks are due by the end of the day (当日报单). The photos are stored under
    ``instance_path``/uploads with their size and SHA-256. One transaction:
    nothing is kept when anything is refused. Raises :class:`Invalid` naming
    the field (the category, the photos' number, size or type, the P4
    fields), :class:`Forbidden` for a role other than crew.
    """
    if actor.role != Role.CREW:
        raise Forbidden("only a crew reports a case from the field")
    category = rules.check_field_category(report.category)
    kinds = rules.check_photos(photos)
    folder = Path(instance_path) / UPLOADS
    written: list[Path] = []
    now = svc.now()
    try:
        with svc.sessions() as session, session.begin():
            unit = in_unit(svc, session)
            result = intake(
                unit,
                actor,
                IntakeCommand(
                    channel=Channel.FIELD,
                    outcome=IntakeOutcome.DISPATCH,
                    category=category,
                    priority=Priority(report.priority),
                    problem=report.problem,
                    need=report.need.strip() or report.problem,
                    address=report.address,
                    contact_name=report.contact_name,
                    contact_phone=report.contact_phone,
                    triage=TriageOutcome.UTILITY,
                    summary=report.problem.strip(),
                ),
            )
            case = lock_case(session, result.case_number or "")
            _assign_to_reporter(unit, session, case, actor, now)
            publish_change(unit, case, Action.ASSIGN_WORKER)
            _due_today(svc, session, case, now)
            for photo, kind in zip(photos, kinds, strict=True):
                written.append(_store_photo(session, folder, case, actor, photo, kind, now))
            session.flush()
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return case


def _assign_to_reporter(
    svc: Services, session: Session, case: Case, actor: Actor, now: datetime
) -> None:
    """F8: the report goes straight to the reporter's own work.

    The dispatch center's sending to the department (派单到站点) is made by the
    rule rather than by a dispatcher: the event names the reporter and says
    it is a field report. The reporter's department then signs for it (签收)
    and names the reporter as its worker (派工), as the reporter.
    """
    if actor.department_id is None:
        raise Invalid("a crew member without a department cannot report from the field", "crew")
    routing = Actor(actor.id, Role.DISPATCHER, actor.department_id)
    steps = (
        (routing, Action.ASSIGN, {"department_id": actor.department_id, "field_report": "F8"}),
        (actor, Action.ACCEPT, {}),
        (actor, Action.ASSIGN_WORKER, {"staff_id": actor.id}),
    )
    for who, action, data in steps:
        transition(svc, session, case, who, action, "", data, now)
        session.flush()  # each move is written before the next reads the clocks


def _due_today(svc: Services, session: Session, case: Case, now: datetime) -> None:
    """F8 当日报单: the case's running clocks are due by the end of the day it was reported."""
    policy = cast(deadlines.StagePolicy, svc.policy)
    today = max(rules.end_of_day(now, svc.timezone), now)
    rows = deadlines.open_rows(session, case.id)
    for row in rows:
        if row.due_at > today:
            row.due_at = row.limit_due_at = today
            row.warn_at = min(row.warn_at, policy.warn_at(row.started_at, today))
            row.limit_text = (row.limit_text + " · 当日报单 (F8)")[: deadlines.LIMIT_TEXT_LENGTH]
            row.next_check_at = deadlines.next_check(deadlines.StageClock.of(row))
    deadlines.refresh_case(case, rows, policy.calendar)
    if case.promised_at is None or case.promised_at > today:
        case.promised_at = today


def _store_photo(
    session: Session,
    folder: Path,
    case: Case,
    actor: Actor,
    photo: rules.PhotoUpload,
    kind: str,
    now: datetime,
) -> Path:
    digest = hashlib.sha256(photo.content).hexdigest()
    name = f"{digest[:32]}.{rules.PHOTO_TYPES[kind]}"
    target = folder / case.number / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(photo.content)
    session.add(
        CasePhoto(
            case_id=case.id,
            file_name=name,
            content_type=kind,
            size=len(photo.content),
            sha256=digest,
            taken_by_id=actor.id,
            created_at=now,
        )
    )
    return target


def case_photos(session: Session, actor: Actor, number: str) -> list[CasePhoto]:
    """The photos of case ``number``, oldest first, if ``actor`` may see the case."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_view(actor, case):
        raise NotFound("no case '%(number)s'", "case", number=number)
    return list(
        session.scalars(
            select(CasePhoto).where(CasePhoto.case_id == case.id).order_by(CasePhoto.id)
        )
    )


def photo_file(
    session: Session, actor: Actor, number: str, photo_id: int, instance_path: str | Path
) -> tuple[Path, str]:
    """The file and content type of one photo, served only to staff who may see the case.

    Raises :class:`NotFound` for an unknown or invisible case or photo.
    """
    for photo in case_photos(session, actor, number):
        if photo.id == photo_id:
            path = Path(instance_path) / UPLOADS / number / photo.file_name
            if not path.is_file():
                break
            return path, photo.content_type
    raise NotFound(
        "no photo %(photo_id)s on case '%(number)s'", "photo", photo_id=photo_id, number=number
    )


# -- what the crew page reads ----------------------------------------------------------


def next_visits(session: Session, cases: Sequence[Case]) -> dict[int, Appointment]:
    """The next booked visit of each of ``cases`` (F1), by case id (one query)."""
    ids = [case.id for case in cases]
    if not ids:
        return {}
    visits: dict[int, Appointment] = {}
    for visit in session.scalars(
        select(Appointment)
        .where(Appointment.case_id.in_(ids), Appointment.status == "booked")
        .order_by(Appointment.starts_at)
    ):
        visits.setdefault(visit.case_id, visit)
    return visits


def case_still_mine(session: Session, actor: Actor, number: str) -> bool:
    """Whether ``actor`` may still see case ``number`` (after a hand-back they may not)."""
    case = session.scalar(select(Case).where(Case.number == number))
    return case is not None and can_view(actor, case)


# -- the meter well's on-site check (F10) ------------------------------------------------


def open_site_checks(session: Session, actor: Actor) -> list[tuple[SiteCheck, Case]]:
    """The on-site checks ``actor``'s department has still to make, soonest due first."""
    if actor.department_id is None:
        return []
    rows = session.execute(
        select(SiteCheck, Case)
        .join(Case, Case.id == SiteCheck.case_id)
        .where(SiteCheck.department_id == actor.department_id, SiteCheck.checked_at.is_(None))
        .order_by(SiteCheck.due_at)
    )
    return [(check, case) for check, case in rows]


def site_checks_of(session: Session, case_id: int) -> list[SiteCheck]:
    """Every on-site check of a case, oldest first."""
    return list(
        session.scalars(
            select(SiteCheck).where(SiteCheck.case_id == case_id).order_by(SiteCheck.id)
        )
    )


def record_site_check(svc: Services, actor: Actor, check_id: int, finding: str) -> SiteCheck:
    """F10: the meter reader checked the repaired well on site (现场核实); returns the check.

    Only the department the check is with (or dispatch and supervisors)
    records it, once, saying what was found; the case's history gets the
    step, with whether the 2-day limit was kept. Raises :class:`Invalid`
    (no finding), :class:`NotFound`, :class:`Forbidden`, :class:`Conflict`
    (already recorded).
    """
    finding = required_text(finding, "finding", "F10")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        check = session.scalar(select(SiteCheck).where(SiteCheck.id == check_id).with_for_update())
        if check is None:
            raise NotFound("no on-site check %(check_id)s", "check", check_id=check_id)
        if actor.role == Role.CREW and actor.department_id != check.department_id:
            raise Forbidden("this on-site check is with another department")
        if actor.role not in (Role.CREW, Role.DISPATCHER, Role.SUPERVISOR):
            raise Forbidden("role '%(role)s' does not make on-site checks", role=actor.role)
        if check.checked_at is not None:
            raise Conflict("this on-site check is already recorded", "check")
        number = session.scalar(select(Case.number).where(Case.id == check.case_id))
        case = lock_case(session, number or "")
        check.checked_at, check.checked_by_id, check.finding = now, actor.id, finding
        recorded = append_event(
            session,
            case,
            action="site_check",
            from_state=case.state,
            to_state=case.state,
            actor_id=actor.id,
            at=now,
            data={
                "note": finding,
                "site_check_met": site_check_rules.site_check_met(check.due_at, now),
                "site_check_due_at": check.due_at,
            },
        )
        check_text(svc, session, case, recorded)
        case.updated_at = now
    publish_change(svc, case, "site_check")
    return check
