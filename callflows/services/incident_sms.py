"""Texting an incident update to the callers of the cases merged into it (事件进展短信).

:func:`send_update_sms` claims, in one transaction, one
:class:`~callflows.models.IncidentUpdateSms` row and one pending
:class:`~callflows.models.OutboundAttempt` per open child case with a mobile
contact phone that has not had this update yet; the unique constraint on
(update, case) and the incident's row lock make a second run (a retry, a
double click, another process) claim nothing for those. After that commit
each text is asked of the phone system once and its outcome recorded on its
attempt. A refusal or an uncertain answer is logged and recorded, never
raised: the update itself was saved before any of this began.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from callflows.models import AttemptKind, AttemptStatus, IncidentUpdateSms, OutboundAttempt
from callflows.services.context import CallFlows
from callflows.services.numbers import is_mobile
from callflows.telephony import OutboundSms, TelephonyError, TelephonyUncertain
from hotline.domain.errors import Forbidden, NotFound
from hotline.models import Case, IncidentUpdate
from hotline.services import Actor, Services
from hotline.services.access import lock_case
from hotline.services.incidents import UPDATE_ROLES, child_cases

__all__ = ["SmsReport", "incident_sms_body", "send_update_sms"]

log = logging.getLogger(__name__)

PURPOSE = "incident_update"


@dataclass
class SmsReport:
    """What one run did: case numbers texted, failed (with why), and left out (with why)."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def incident_sms_body(
    svc: Services, flows: CallFlows, case_number: str, update: IncidentUpdate
) -> str:
    """The text a caller gets: their case number, the cause, when water is back, the note."""
    sender = f"【{flows.company_short}】" if flows.company_short else ""
    parts = [f"{sender}您好,您反映的供水问题(工单号{case_number})有新进展"]
    if update.cause:
        parts.append(f"原因:{update.cause}")
    if update.estimated_restore_at is not None:
        local = update.estimated_restore_at.astimezone(svc.timezone)
        parts.append(f"预计{local.month}月{local.day}日{local:%H:%M}恢复供水")
    if update.text:
        parts.append(update.text)
    phone = f"如有疑问请致电{flows.hotline_number}。" if flows.hotline_number else ""
    return "。".join(parts) + f"。给您带来不便,敬请谅解。{phone}"


@dataclass(frozen=True)
class _Claimed:
    attempt_id: int
    case_number: str
    to: str
    body: str


def _claim(
    svc: Services, flows: CallFlows, actor: Actor, update_id: int
) -> tuple[list[_Claimed], SmsReport]:
    """Write the pending attempts (one per child not yet texted) and commit them."""
    report = SmsReport()
    now = svc.now()
    claimed: list[_Claimed] = []
    with svc.sessions() as session, session.begin():
        update = session.get(IncidentUpdate, update_id) if isinstance(update_id, int) else None
        if update is None:
            raise NotFound("no incident update %(update)s", "update", update=repr(update_id))
        number = session.scalar(select(Case.number).where(Case.id == update.case_id))
        incident = lock_case(session, number or "")  # one claim at a time per incident
        done = set(
            session.scalars(
                select(IncidentUpdateSms.case_id).where(IncidentUpdateSms.update_id == update.id)
            )
        )
        for child in child_cases(session, incident.id):
            if child.id in done:
                report.skipped.append((child.number, "already sent"))
                continue
            to = child.contact_phone or ""
            if not is_mobile(to):
                report.skipped.append((child.number, "no mobile number"))
                continue
            body = incident_sms_body(svc, flows, child.number, update)
            attempt = OutboundAttempt(
                kind=AttemptKind.SMS,
                purpose=PURPOSE,
                to_number=to,
                body=body,
                status=AttemptStatus.PENDING,
                provider=flows.telephony.name,
                case_id=child.id,
                requested_by_id=actor.id,
                created_at=now,
                updated_at=now,
            )
            session.add(attempt)
            session.flush()
            session.add(
                IncidentUpdateSms(
                    update_id=update.id, case_id=child.id, attempt_id=attempt.id, created_at=now
                )
            )
            claimed.append(_Claimed(attempt.id, child.number, to, body))
        session.flush()
    return claimed, report


def send_update_sms(svc: Services, flows: CallFlows, actor: Actor, update_id: int) -> SmsReport:
    """Text incident update ``update_id`` to each child's caller who has not had it yet.

    Raises :class:`Forbidden` (not dispatch) and :class:`NotFound` (no such
    update) before anything is written; a failed text is recorded on its
    attempt (``refused`` or ``uncertain``) and listed in the report.
    """
    if actor.role not in UPDATE_ROLES:
        raise Forbidden("role '%(role)s' may not text incident updates", role=actor.role)
    try:
        claimed, report = _claim(svc, flows, actor, update_id)
    except IntegrityError:
        # Another run claimed the same texts first: they are its to send.
        log.info("incident update %s: texts already claimed by another run", update_id)
        return SmsReport()
    for item in claimed:
        try:
            sid: str | None = flows.telephony.send_sms(
                OutboundSms(item.attempt_id, item.to, item.body)
            )
            status, error = AttemptStatus.REQUESTED, ""
        except TelephonyError as exc:
            sid = None
            uncertain = isinstance(exc, TelephonyUncertain)
            status = AttemptStatus.UNCERTAIN if uncertain else AttemptStatus.REFUSED
            error = str(exc)[:2000]
            log.warning(
                "incident update %s: text to case %s failed (%s): %s",
                update_id,
                item.case_number,
                status,
                error,
            )
        with svc.sessions() as session, session.begin():
            attempt = session.get(OutboundAttempt, item.attempt_id)
            if attempt is not None:
                attempt.status = status
                attempt.provider_sid = sid
                attempt.error = error
                attempt.updated_at = svc.now()
        if error:
            report.failed.append((item.case_number, error))
        else:
            report.sent.append(item.case_number)
    return report
