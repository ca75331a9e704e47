"""A call becomes a contact and, where needed, a case: one unit of work.

:func:`submit` locks the call's row, checks P4 through the script engine,
has ``hotline.services.intake`` register the contact (and the case) in the
same transaction, links them to the call, gives the script the case number
and promised time to read out, and marks the call submitted. All of it is
committed together or none of it is. Two submits of the same call queue on
the call's row lock (``SELECT … FOR UPDATE`` on PostgreSQL, the write
transaction on SQLite); the second finds the call recorded and is refused,
so a call opens at most one case. Live updates go out only after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callflows.domain import live
from callflows.domain.engine import ReadBackRequired
from callflows.models import Call, ComplianceFlag
from callflows.services.context import CallFlows, ReadBackMissing, get_call, require_taker
from callflows.services.flags import check_staff_text
from callflows.services.inbound import finish
from callflows.services.script import load_script
from hotline import services
from hotline.domain.errors import Rejected, wording
from hotline.domain.taxonomy import Category, Channel, Priority, TriageOutcome
from hotline.models import Case, Contact, Customer
from hotline.services import (
    Actor,
    Conflict,
    Forbidden,
    IntakeCommand,
    IntakeOutcome,
    IntakeResult,
    Invalid,
    Services,
    knowledge,
)
from hotline.services.context import in_unit

__all__ = ["CASE_OUTCOMES", "SubmitForm", "SubmitResult", "promised_text", "submit"]

#: Outcomes that open a case, and so pass P4's read-back gate first.
CASE_OUTCOMES = frozenset(
    {
        IntakeOutcome.DISPATCH,
        IntakeOutcome.ANSWER_ON_CALL,
        IntakeOutcome.TRANSFER,
        IntakeOutcome.JOIN_INCIDENT,
    }
)


@dataclass
class SubmitForm:
    """What the console's case column sends besides what the script captured.

    Script fields (category, priority, triage, told_caller…) come from the
    script session when it has them; P4's four (problem, need, address,
    contact phone) come only from it, since only those were read back.
    """

    outcome: IntakeOutcome
    category: Category | None = None
    priority: Priority | None = None
    triage: TriageOutcome | None = None
    pipe_size_dn: int | None = None
    #: F12: the severity grade of a leak (1 most severe); None: not graded.
    grade: int | None = None
    #: The service area's code; empty: found from the address.
    area: str = ""
    customer_account: str = ""
    answer: str = ""
    target_department_id: int | None = None
    told_caller: str = ""
    join_case_number: str = ""
    summary: str = ""
    #: G3: the knowledge-base article an answer on the call gave (cited by the case).
    article_id: int | None = None
    #: W10: nobody could answer: the superior asked, and the caller's question.
    ask_answerer_id: int | None = None
    question: str = ""


@dataclass(frozen=True)
class SubmitResult:
    """What the operator reads to the caller."""

    contact_id: int
    case_number: str | None
    state: str | None
    promised_at: datetime | None
    promised_text: str
    due_at: datetime | None
    flags: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def promised_text(svc: Services, moment: datetime | None) -> str:
    """A promised time as the script says it: ``11月27日09:00`` in the utility's zone."""
    if moment is None:
        return ""
    local = moment.astimezone(svc.timezone)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def submit(
    svc: Services, flows: CallFlows, actor: Actor, call_id: int, form: SubmitForm
) -> SubmitResult:
    """Turn the call into a contact and, for a case outcome, a case (one per call).

    P4 is enforced here, on the server: a case outcome goes to
    ``hotline.services.intake`` with the read-back confirmed only when the
    script engine's :meth:`~callflows.domain.engine.CallSession.require_ready_to_submit`
    passes. Raises :class:`ReadBackMissing` (P4), :class:`Forbidden`,
    :class:`NotFound`, :class:`Conflict` (already recorded), and every
    refusal of ``intake`` (:class:`Invalid` naming the field…). One
    transaction: nothing is written when anything raises, whichever step it
    comes from.
    """
    require_taker(actor)
    with svc.sessions() as session, session.begin():
        call = get_call(session, call_id, lock=True)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can record it")
        script = load_script(flows, call, svc.now)
        # P4: the engine alone says whether the read-back was confirmed.
        confirmed = False
        if form.outcome in CASE_OUTCOMES:
            try:
                script.session.require_ready_to_submit()
            except ReadBackRequired as exc:
                template, params = wording(exc)
                raise ReadBackMissing(template, exc.missing, exc.confirmed, **params) from None
            confirmed = True
        try:
            command = _command(
                session, call, script.session.fields, form, read_back_confirmed=confirmed
            )
        except ValueError as exc:
            raise Invalid.from_error(exc, "field") from None
        _refuse_if_recorded(session, call)
        now = svc.now()
        result = services.intake(in_unit(svc, session), actor, command)
        text = promised_text(svc, result.promised_at)
        flags = _link(svc, session, actor, call, script, result, form, text, now)
        _knowledge(in_unit(svc, session), actor, result, form)
        call.submit_claimed_at = now
        ended: list[tuple[str, dict[str, Any]]] = []
        if call.channel == Channel.COUNTER:
            # W1: a counter visit is over once its case or its answer is recorded.
            ended = finish(
                session,
                call,
                hung_up_by="operator",
                provider_status=None,
                at=now,
                now=now,
                flows=flows,
            )
    for event, payload in ended:
        flows.publish(event, payload)
    return SubmitResult(
        contact_id=result.contact_id,
        case_number=result.case_number,
        state=str(result.state) if result.state else None,
        promised_at=result.promised_at,
        promised_text=text,
        due_at=result.due_at,
        flags=flags,
    )


def _knowledge(svc: Services, actor: Actor, result: IntakeResult, form: SubmitForm) -> None:
    """G3: the case cites the article it was answered with; W10: it waits for a superior."""
    if form.article_id is None and form.ask_answerer_id is None:
        return
    if result.case_number is None:
        raise Invalid("an article or a question belongs to a case", "outcome")
    if form.article_id is not None:
        knowledge.cite(svc, actor, result.case_number, form.article_id)
    if form.ask_answerer_id is not None:
        knowledge.ask(
            svc,
            actor,
            result.case_number,
            answerer_id=form.ask_answerer_id,
            question=form.question,
        )


def _refuse_if_recorded(session: Session, call: Call) -> None:
    """Raise :class:`Conflict` when the call already became a contact (and maybe a case)."""
    if call.contact_id is None:
        return
    if call.case_id is not None:
        number = session.scalar(select(Case.number).where(Case.id == call.case_id))
        raise Conflict("this call was already recorded as case %(number)s", "call", number=number)
    raise Conflict("this call was already recorded", "call")


def _command(
    session: Session,
    call: Call,
    fields: Mapping[str, str],
    form: SubmitForm,
    *,
    read_back_confirmed: bool,
) -> IntakeCommand:
    def choice(enum_cls: type, name: str, given: Any) -> Any:
        raw = fields.get(name)
        if not raw:
            return given
        try:
            return enum_cls(raw)
        except ValueError:
            raise Rejected(
                "'%(value)s' is not a valid %(kind)s", value=raw, kind=enum_cls.__qualname__
            ) from None

    account = form.customer_account.strip()
    if not account and call.customer_id is not None:
        account = (
            session.scalar(select(Customer.account_number).where(Customer.id == call.customer_id))
            or ""
        )
    return IntakeCommand(
        channel=Channel(call.channel),
        outcome=form.outcome,
        caller_number=call.from_number or "",
        caller_name=fields.get("caller_name", ""),
        customer_account=account,
        category=choice(Category, "category", form.category),
        priority=choice(Priority, "priority", form.priority) or Priority.NORMAL,
        problem=fields.get("problem", ""),
        need=fields.get("need", ""),
        address=fields.get("address", ""),
        contact_name=fields.get("caller_name", ""),
        contact_phone=fields.get("contact_phone", ""),
        triage=choice(TriageOutcome, "triage", form.triage),
        pipe_size_dn=form.pipe_size_dn,
        grade=form.grade,
        area=form.area,
        read_back_confirmed=read_back_confirmed,
        answer=form.answer,
        target_department_id=form.target_department_id,
        told_caller=fields.get("caller_told", "") or form.told_caller,
        join_case_number=form.join_case_number,
        summary=form.summary,
        started_at=call.ringing_at,
        answered_at=call.answered_at,
    )


def _link(
    svc: Services,
    session: Session,
    actor: Actor,
    call: Call,
    script: live.LiveScript,
    result: IntakeResult,
    form: SubmitForm,
    text: str,
    submitted_at: datetime,
) -> tuple[dict[str, Any], ...]:
    """Tie the contact and case intake just wrote to the call; returns the call's G2 flags."""
    call.contact_id = result.contact_id
    case_id = (
        session.scalar(select(Case.id).where(Case.number == result.case_number))
        if result.case_number
        else None
    )
    call.case_id = case_id
    contact = session.get(Contact, result.contact_id)
    if contact is not None and call.ended_at is not None:
        contact.ended_at = call.ended_at
    if case_id is not None:
        # The flags this submission's own case events raised (hotline's
        # intake stored them with the case) now belong to the call as well.
        session.execute(
            update(ComplianceFlag)
            .where(
                ComplianceFlag.case_id == case_id,
                ComplianceFlag.call_id.is_(None),
                ComplianceFlag.staff_id == actor.id,
                ComplianceFlag.at >= submitted_at,
            )
            .values(call_id=call.id)
            .execution_options(synchronize_session=False)
        )
    if result.case_number is None:
        # No case, so no case event carried the summary: flag it on the call.
        check_staff_text(
            session,
            None,
            None,
            [("summary", form.summary)],
            actor.id,
            at=submitted_at,
            call_id=call.id,
        )
    for name, value in (("case_number", result.case_number), ("promised_time", text)):
        if value and name in script.session.script.fields:
            script.apply("capture", {"field": name, "value": value})
    call.script_state = script.to_state()
    if not script.session.is_live:
        call.compliance = script.session.compliance_record().to_dict()
    call.updated_at = svc.now()
    session.flush()
    flags = session.scalars(
        select(ComplianceFlag).where(ComplianceFlag.call_id == call.id).order_by(ComplianceFlag.id)
    ).all()
    return tuple({"source": f.source, "phrase": f.phrase, "excerpt": f.excerpt} for f in flags)
