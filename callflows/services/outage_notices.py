"""Outage notices texted to the customers of the affected area (停水通知短信, P8).

An outage published on the outages page is announced to every customer whose
address lies in its area (``dispatch.services.outages.affects``), and so are
its significant updates: a new restore time and water back. The work runs in
three steps, each its own transaction, all exactly once whoever runs them:

1. :func:`announce_published` writes one :class:`OutageAnnouncement` per
   outage under way or coming that has none (``published``);
   :func:`change_restore_time` and :func:`mark_restored` write theirs with the
   change they announce, in the dispatcher's transaction.
2. :func:`expand` takes each new announcement (a conditional update of its
   ``expanded_at``) and writes one queued :class:`OutageNoticeSms` per affected
   customer with a mobile phone; (announcement, customer) is unique.
3. :func:`send_batch` takes up to :data:`BATCH_SIZE` queued texts (a
   conditional update to ``sending``) and writes their pending
   :class:`OutboundAttempt`, commits, and only then asks the phone system, once
   per text; each answer is recorded. A refusal or an uncertain answer is
   logged and counted (``hotline.db.after_commit_failures``), never raised.

:func:`run` does the three in turn: the scheduler's job (every sweep
interval) and the "send now" button call it. :func:`caller_announcement` is
what a caller from an affected address hears before the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflows.domain.outage_notices import (
    NoticeKind,
    OutageFacts,
    notice_text,
    spoken_time,
)
from callflows.domain.outage_notices import (
    caller_announcement as announcement_words,
)
from callflows.models import (
    AttemptKind,
    AttemptStatus,
    OutageAnnouncement,
    OutageNoticeSms,
    OutageNoticeStatus,
    OutboundAttempt,
)
from callflows.services.context import CallFlows
from callflows.services.numbers import is_mobile, read_number
from callflows.telephony import OutboundSms, TelephonyError, TelephonyUncertain
from dispatch.services.outages import active_at
from hotline import db
from hotline.domain.taxonomy import Role
from hotline.models import Customer, CustomerPhone, Outage, WechatPush
from hotline.services import Actor, Forbidden, Invalid, NotFound, Services, wechat

__all__ = [
    "BATCH_SIZE",
    "NOTICE_ROLES",
    "NoticeCounts",
    "NoticeReport",
    "announce_published",
    "caller_announcement",
    "change_restore_time",
    "expand",
    "mark_restored",
    "notice_counts",
    "push_wechat",
    "run",
    "send_batch",
]

log = logging.getLogger(__name__)
_count_lock = threading.Lock()

PURPOSE = "outage_notice"
#: Texts taken (and committed as ``sending``) by one batch.
BATCH_SIZE = 50
#: Batches one run sends at most; the rest wait for the next run.
MAX_BATCHES = 20
#: Who announces a new restore time or water back (those who publish outages).
NOTICE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})
FAILURE_KIND = "outage notice sms"


@dataclass
class NoticeReport:
    """What one run did: announcements written and expanded, texts sent and failed."""

    announced: int = 0
    expanded: int = 0
    queued: int = 0
    sent: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    wechat_sent: int = 0
    wechat_failed: int = 0

    @property
    def acted(self) -> bool:
        return bool(
            self.announced
            or self.expanded
            or self.sent
            or self.failed
            or self.wechat_sent
            or self.wechat_failed
        )

    def __str__(self) -> str:
        return (
            f"outage notices: {self.announced} announced, {self.queued} texts queued, "
            f"{self.sent} sent, {len(self.failed)} failed; WeChat {self.wechat_sent} sent, "
            f"{self.wechat_failed} failed"
        )


@dataclass(frozen=True)
class NoticeCounts:
    """An outage's texts: waiting to go, sent, and failed (refused or uncertain)."""

    waiting: int = 0
    sent: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.waiting + self.sent + self.failed


def _facts(svc: Services, outage: Outage, ends_at: datetime | None = None) -> OutageFacts:
    return OutageFacts(
        area=outage.area,
        reason=outage.reason,
        starts_at=outage.starts_at.astimezone(svc.timezone),
        ends_at=(ends_at or outage.ends_at).astimezone(svc.timezone),
        planned=outage.planned,
    )


# -- 1. announcements -------------------------------------------------------------------


def announce_published(svc: Services) -> int:
    """Write the ``published`` announcement of every outage under way or coming that
    has none; returns how many. Another run writing the same first is harmless."""
    now = svc.now()
    try:
        with svc.sessions() as session, session.begin():
            announced = select(OutageAnnouncement.outage_id).where(
                OutageAnnouncement.key == NoticeKind.PUBLISHED.value
            )
            outages = session.scalars(
                select(Outage).where(
                    Outage.cancelled_at.is_(None),
                    Outage.ends_at > now,
                    Outage.published_at <= now,
                    Outage.id.not_in(announced),
                )
            ).all()
            for outage in outages:
                session.add(
                    OutageAnnouncement(
                        outage_id=outage.id,
                        kind=NoticeKind.PUBLISHED,
                        key=NoticeKind.PUBLISHED.value,
                        restore_at=outage.ends_at,
                        created_at=now,
                        recipients=0,
                    )
                )
            count = len(outages)
    except IntegrityError:
        log.info("outage notices: another run announced the same outages first")
        return 0
    return count


def _locked_outage(session: Session, outage_id: int) -> Outage:
    outage = session.get(Outage, outage_id, with_for_update=True)
    if outage is None or outage.cancelled_at is not None:
        raise NotFound("no outage notice %(outage_id)s", "outage", outage_id=outage_id)
    return outage


def _check_role(actor: Actor) -> None:
    if actor.role not in NOTICE_ROLES:
        raise Forbidden("role '%(role)s' may not change an outage notice", role=actor.role)


def change_restore_time(svc: Services, actor: Actor, outage_id: int, ends_at: datetime) -> int:
    """Move an outage's expected end to ``ends_at`` and announce it to its area.

    One transaction: the outage's end and the ``restore_time`` announcement.
    Raises :class:`Forbidden`, :class:`NotFound` (unknown or cancelled), and
    :class:`Invalid` naming ``ends_at`` (not after the start and now, the same
    time as announced, or the outage already over) before anything is written.
    Returns the announcement's id.
    """
    _check_role(actor)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        outage = _locked_outage(session, outage_id)
        if outage.ends_at <= now:
            raise Invalid("the outage is over; water is back", "ends_at", "P8")
        if ends_at <= now or ends_at <= outage.starts_at:
            raise Invalid("the new restore time must be after the start and after now", "ends_at")
        if ends_at == outage.ends_at:
            raise Invalid("the restore time is the one already announced", "ends_at")
        earlier = session.scalar(
            select(func.count())
            .select_from(OutageAnnouncement)
            .where(
                OutageAnnouncement.outage_id == outage.id,
                OutageAnnouncement.kind == NoticeKind.RESTORE_TIME,
            )
        )
        key = f"restore-{(earlier or 0) + 1}"
        return _announce(session, outage, NoticeKind.RESTORE_TIME, key, ends_at, actor, now)


def mark_restored(svc: Services, actor: Actor, outage_id: int) -> int:
    """Water is back: end the outage now and announce it to its area.

    Raises :class:`Forbidden`, :class:`NotFound`, and :class:`Invalid` naming
    ``outage`` when it has not started or was already ended, before anything
    is written. Returns the announcement's id.
    """
    _check_role(actor)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        outage = _locked_outage(session, outage_id)
        if outage.starts_at > now:
            raise Invalid("the outage has not started yet", "outage", "P8")
        ended = session.scalar(
            select(OutageAnnouncement.id).where(
                OutageAnnouncement.outage_id == outage.id,
                OutageAnnouncement.key == NoticeKind.ENDED.value,
            )
        )
        if ended is not None or outage.ends_at <= now:
            raise Invalid("the outage is already over", "outage", "P8")
        return _announce(session, outage, NoticeKind.ENDED, NoticeKind.ENDED.value, now, actor, now)


def _announce(
    session: Session,
    outage: Outage,
    kind: NoticeKind,
    key: str,
    restore_at: datetime,
    actor: Actor,
    now: datetime,
) -> int:
    """Write the notice ``kind`` (after the ``published`` one, if none yet) with the
    outage's new end ``restore_at``; the texts go out with the next run. Returns its id."""
    _ensure_published(session, outage, now)
    outage.ends_at = restore_at
    announcement = OutageAnnouncement(
        outage_id=outage.id,
        kind=kind,
        key=key,
        restore_at=restore_at,
        created_at=now,
        created_by_id=actor.id,
        recipients=0,
    )
    session.add(announcement)
    session.flush()
    return announcement.id


def _ensure_published(session: Session, outage: Outage, now: datetime) -> None:
    """The ``published`` notice comes first: write it if no run has yet (same transaction)."""
    exists = session.scalar(
        select(OutageAnnouncement.id).where(
            OutageAnnouncement.outage_id == outage.id,
            OutageAnnouncement.key == NoticeKind.PUBLISHED.value,
        )
    )
    if exists is None:
        session.add(
            OutageAnnouncement(
                outage_id=outage.id,
                kind=NoticeKind.PUBLISHED,
                key=NoticeKind.PUBLISHED.value,
                restore_at=outage.ends_at,
                created_at=now,
                recipients=0,
            )
        )
        session.flush()


# -- 2. one queued text per affected customer -----------------------------------------


def _affected(session: Session, outage: Outage) -> list[tuple[int, str]]:
    """(customer id, mobile number) of each customer whose address is in the area."""
    keywords = [k for k in outage.area_keywords.split() if k]
    if not keywords:
        return []
    rows = session.execute(
        select(Customer.id, CustomerPhone.number)
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(or_(*(Customer.address.contains(k, autoescape=True) for k in keywords)))
        .order_by(Customer.id, CustomerPhone.id)
    ).all()
    chosen: dict[int, str] = {}
    for customer_id, number in rows:
        if customer_id not in chosen and is_mobile(number):
            chosen[customer_id] = number
    return list(chosen.items())


def expand(svc: Services, flows: CallFlows) -> tuple[int, int]:
    """Queue the texts of every announcement not yet expanded; returns
    (announcements expanded, texts queued). One transaction per announcement."""
    expanded = queued = 0
    with svc.sessions() as session:
        waiting = list(
            session.scalars(
                select(OutageAnnouncement.id)
                .where(OutageAnnouncement.expanded_at.is_(None))
                .order_by(OutageAnnouncement.id)
            )
        )
    for announcement_id in waiting:
        try:
            count = _expand_one(svc, flows, announcement_id)
        except IntegrityError:
            log.info("outage notice %s: texts already queued by another run", announcement_id)
            continue
        if count is not None:
            expanded += 1
            queued += count
    return expanded, queued


def _expand_one(svc: Services, flows: CallFlows, announcement_id: int) -> int | None:
    now = svc.now()
    with svc.sessions() as session, session.begin():
        taken = session.execute(
            update(OutageAnnouncement)
            .where(
                OutageAnnouncement.id == announcement_id,
                OutageAnnouncement.expanded_at.is_(None),
            )
            .values(expanded_at=now)
        )
        if taken.rowcount != 1:
            return None  # another run took it
        announcement = session.get(OutageAnnouncement, announcement_id)
        assert announcement is not None
        outage = session.get(Outage, announcement.outage_id)
        if outage is None or outage.cancelled_at is not None:
            return 0
        body = notice_text(
            NoticeKind(announcement.kind),
            _facts(svc, outage, announcement.restore_at),
            sender=flows.company_short,
            hotline=flows.hotline_number,
        )
        recipients = _affected(session, outage)
        announcement.recipients = len(recipients)
        if not recipients:
            return 0
        session.execute(
            OutageNoticeSms.__table__.insert(),
            [
                {
                    "announcement_id": announcement.id,
                    "customer_id": customer_id,
                    "to_number": number,
                    "body": body,
                    "status": OutageNoticeStatus.QUEUED.value,
                    "error": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for customer_id, number in recipients
            ],
        )
        return len(recipients)


# -- 3. sending, after the commit -------------------------------------------------------


@dataclass(frozen=True)
class _Taken:
    sms_id: int
    attempt_id: int
    to: str
    body: str


def _take(svc: Services, flows: CallFlows, limit: int) -> list[_Taken]:
    """Mark up to ``limit`` queued texts ``sending`` with their pending attempts; commit."""
    now = svc.now()
    taken: list[_Taken] = []
    with svc.sessions() as session, session.begin():
        candidates = session.execute(
            select(OutageNoticeSms.id, OutageNoticeSms.to_number, OutageNoticeSms.body)
            .where(OutageNoticeSms.status == OutageNoticeStatus.QUEUED)
            .order_by(OutageNoticeSms.id)
            .limit(limit)
        ).all()
        for sms_id, to, body in candidates:
            won = session.execute(
                update(OutageNoticeSms)
                .where(
                    OutageNoticeSms.id == sms_id,
                    OutageNoticeSms.status == OutageNoticeStatus.QUEUED,
                )
                .values(status=OutageNoticeStatus.SENDING, updated_at=now)
            )
            if won.rowcount != 1:
                continue  # another run took it
            attempt = OutboundAttempt(
                kind=AttemptKind.SMS,
                purpose=PURPOSE,
                to_number=to,
                body=body,
                status=AttemptStatus.PENDING,
                provider=flows.telephony.name,
                created_at=now,
                updated_at=now,
            )
            session.add(attempt)
            session.flush()
            session.execute(
                update(OutageNoticeSms)
                .where(OutageNoticeSms.id == sms_id)
                .values(attempt_id=attempt.id)
            )
            taken.append(_Taken(sms_id, attempt.id, to, body))
    return taken


def send_batch(svc: Services, flows: CallFlows, limit: int = BATCH_SIZE) -> NoticeReport:
    """Send up to ``limit`` queued texts: each asked of the phone system once, after
    the commit that marked it; outcomes recorded, failures logged and counted."""
    report = NoticeReport()
    for item in _take(svc, flows, limit):
        sid: str | None = None
        try:
            sid = flows.telephony.send_sms(OutboundSms(item.attempt_id, item.to, item.body))
            sms_status, attempt_status, error = (
                OutageNoticeStatus.SENT,
                AttemptStatus.REQUESTED,
                "",
            )
        except TelephonyError as exc:
            uncertain = isinstance(exc, TelephonyUncertain)
            sms_status = OutageNoticeStatus.UNCERTAIN if uncertain else OutageNoticeStatus.REFUSED
            attempt_status = AttemptStatus.UNCERTAIN if uncertain else AttemptStatus.REFUSED
            error = str(exc)[:2000] or type(exc).__name__
            _count_failure()
            log.warning("outage notice text %s failed (%s): %s", item.sms_id, sms_status, error)
        now = svc.now()
        with svc.sessions() as session, session.begin():
            session.execute(
                update(OutageNoticeSms)
                .where(OutageNoticeSms.id == item.sms_id)
                .values(status=sms_status, error=error, updated_at=now)
            )
            attempt = session.get(OutboundAttempt, item.attempt_id)
            if attempt is not None:
                attempt.status = attempt_status
                attempt.provider_sid = sid
                attempt.error = error
                attempt.updated_at = now
        if error:
            report.failed.append((item.sms_id, error))
        else:
            report.sent += 1
    return report


def _count_failure() -> None:
    with _count_lock:
        db.after_commit_failures[FAILURE_KIND] += 1


# -- the job, the counts, the caller's announcement ---------------------------------------


def run(
    svc: Services,
    flows: CallFlows,
    *,
    notifier: wechat.WechatNotifier | None = None,
    link_base: str = "",
    max_batches: int = MAX_BATCHES,
) -> NoticeReport:
    """Announce newly published outages, queue every new notice's texts, send them in
    batches (at most ``max_batches`` this run; the rest wait for the next), and push
    the notices to linked WeChat accounts when a ``notifier`` is given."""
    report = NoticeReport()
    report.announced = announce_published(svc)
    report.expanded, report.queued = expand(svc, flows)
    for _ in range(max_batches):
        batch = send_batch(svc, flows)
        report.sent += batch.sent
        report.failed.extend(batch.failed)
        if batch.sent + len(batch.failed) < BATCH_SIZE:
            break
    if notifier is not None:
        report.wechat_sent, report.wechat_failed = push_wechat(svc, notifier, link_base)
    return report


#: Notices of outages that ended longer ago than this are no longer pushed.
WECHAT_WINDOW = timedelta(days=1)
KIND_WORDS = {
    NoticeKind.PUBLISHED: "停水通知",
    NoticeKind.RESTORE_TIME: "恢复供水时间调整",
    NoticeKind.ENDED: "已恢复供水",
}


def push_wechat(
    svc: Services, notifier: wechat.WechatNotifier, link_base: str = ""
) -> tuple[int, int]:
    """Push each recent notice to the WeChat accounts linked to a customer of its area
    that have not had it; returns (sent, failed). Never raises a WeChat error."""
    now = svc.now()
    work: list[tuple[str, list[wechat.TemplateMessage]]] = []
    url = link_base.rstrip("/") + "/public/outages" if link_base else ""
    with svc.sessions() as session:
        rows = session.execute(
            select(OutageAnnouncement, Outage)
            .join(Outage, Outage.id == OutageAnnouncement.outage_id)
            .where(
                OutageAnnouncement.expanded_at.is_not(None),
                Outage.cancelled_at.is_(None),
                Outage.ends_at >= now - WECHAT_WINDOW,
            )
            .order_by(OutageAnnouncement.id)
        ).all()
        for announcement, outage in rows:
            ref = f"notice-{announcement.id}"
            customers = _area_customers(session, outage)
            openids = wechat.linked_openids(session, customer_ids=customers)
            done = set(
                session.scalars(
                    select(WechatPush.openid).where(
                        WechatPush.purpose == "outage", WechatPush.ref == ref
                    )
                )
            )
            facts = _facts(svc, outage, announcement.restore_at)
            data = {
                "kind": KIND_WORDS[NoticeKind(announcement.kind)],
                "area": facts.area,
                "reason": facts.reason,
                "time": f"{spoken_time(facts.starts_at)}至{spoken_time(facts.ends_at)}",
            }
            messages = [
                wechat.TemplateMessage(openid, "outage", data, url)
                for openid in openids
                if openid not in done
            ]
            if messages:
                work.append((ref, messages))
    sent = failed = 0
    for ref, messages in work:
        ok, bad = wechat.push(svc, notifier, "outage", ref, messages)
        sent, failed = sent + ok, failed + bad
    return sent, failed


def _area_customers(session: Session, outage: Outage) -> list[int]:
    keywords = [k for k in outage.area_keywords.split() if k]
    if not keywords:
        return []
    return list(
        session.scalars(
            select(Customer.id).where(
                or_(*(Customer.address.contains(k, autoescape=True) for k in keywords))
            )
        )
    )


def notice_counts(session: Session, outage_ids: Iterable[int]) -> dict[int, NoticeCounts]:
    """Each outage's texts by outcome, in one query (outages without texts are left out)."""
    ids = list(outage_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(OutageAnnouncement.outage_id, OutageNoticeSms.status, func.count())
        .join(OutageNoticeSms, OutageNoticeSms.announcement_id == OutageAnnouncement.id)
        .where(OutageAnnouncement.outage_id.in_(ids))
        .group_by(OutageAnnouncement.outage_id, OutageNoticeSms.status)
    ).all()
    tally: dict[int, dict[str, int]] = {}
    for outage_id, status, count in rows:
        tally.setdefault(outage_id, {})[str(status)] = count
    waiting = (OutageNoticeStatus.QUEUED, OutageNoticeStatus.SENDING)
    failed = (OutageNoticeStatus.REFUSED, OutageNoticeStatus.UNCERTAIN)
    return {
        outage_id: NoticeCounts(
            waiting=sum(t.get(s.value, 0) for s in waiting),
            sent=t.get(OutageNoticeStatus.SENT.value, 0),
            failed=sum(t.get(s.value, 0) for s in failed),
        )
        for outage_id, t in tally.items()
    }


def caller_announcement(svc: Services, from_raw: str | None) -> str | None:
    """What a caller hears of the outages at their address before the queue, or None.

    The address is that of the customers found by the calling number; an
    unknown or withheld number hears nothing more than the greeting.
    """
    number = read_number(svc, from_raw or "")
    if number is None:
        return None
    now = svc.now()
    with svc.read_session() as session:
        addresses = session.scalars(
            select(Customer.address)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.number == number)
            .order_by(Customer.id)
        ).all()
        outages: dict[int, Outage] = {}
        for address in addresses:
            for outage in active_at(session, address or "", now):
                outages.setdefault(outage.id, outage)
        lines = [
            announcement_words(_facts(svc, outage), now.astimezone(svc.timezone))
            for outage in sorted(outages.values(), key=lambda o: o.starts_at)
        ]
    return "".join(lines) or None
