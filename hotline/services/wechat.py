"""The WeChat official account (微信公众号): linking residents, template messages.

A resident who reports through the account's menu form links their WeChat
``openid`` to the phone they give (:func:`link`). Linked residents are then
pushed template messages (模板消息): the outage notices of their area and
the stage of their cases as it changes (what the public status page tells).

One port, :class:`WechatNotifier`, with two adapters: :class:`HttpWechat`
(WeChat's HTTP API over the standard library's ``urllib``: an access token
kept until it expires, then ``message/template/send``; the transport is
injectable so tests never reach the internet) and :class:`RecordingWechat`
(keeps what it was asked, for tests and a setup without an account).

Every push follows the product's habit for messages that leave: the
:class:`~hotline.models.WechatPush` row is written and committed first (its
unique key means an account is never pushed the same thing twice), WeChat
is asked once, and the answer recorded. A failure is logged and counted
(``hotline.db.after_commit_failures``), never raised into the change the
push follows.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline import db
from hotline.domain.errors import Invalid, words
from hotline.domain.intake import IntakeCommand, IntakeOutcome, IntakeResult
from hotline.domain.phones import InvalidPhoneNumber, normalise
from hotline.domain.public_status import ResidentStage, resident_status
from hotline.domain.taxonomy import Category, Channel, Priority, TriageOutcome
from hotline.models import Case, CustomerPhone, WechatLink, WechatPush
from hotline.services.access import Actor
from hotline.services.contacts import intake
from hotline.services.context import Services, in_unit
from hotline.services.ownership import ROSTER_GAP, NobodyToOwn, OwnerLookup, owner_or_refuse

__all__ = [
    "HttpWechat",
    "RecordingWechat",
    "TemplateMessage",
    "WechatError",
    "WechatNotifier",
    "WechatRefused",
    "WechatUncertain",
    "case_stage_push",
    "link",
    "linked_openids",
    "make_notifier",
    "push",
    "report",
]

log = logging.getLogger(__name__)
_count_lock = threading.Lock()

FAILURE_KIND = "wechat push"
#: An openid as WeChat issues them: letters, digits, ``-`` and ``_``, up to 64.
OPENID_PATTERN = re.compile(r"[A-Za-z0-9_-]{6,64}")
API = "https://api.weixin.qq.com/cgi-bin"
SNS_API = "https://api.weixin.qq.com/sns"
#: Seconds before a WeChat HTTP request is given up (it may still have been done).
TIMEOUT_SECONDS = 10
#: WeChat's codes for an access token that is invalid or expired: fetch a new one once.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})


# -- the port ---------------------------------------------------------------------------


class WechatError(Exception):
    """WeChat did not do what was asked."""


class WechatRefused(WechatError):
    """WeChat answered with an error code: nothing was sent."""


class WechatUncertain(WechatError):
    """No clear answer (timeout, lost connection, server error): it may have been sent."""


@dataclass(frozen=True)
class TemplateMessage:
    """One template message: who, which template, its fields and the page it opens."""

    openid: str
    kind: str  # "outage" or "case": which configured template
    data: Mapping[str, str]
    url: str = ""


class WechatNotifier(Protocol):
    name: str

    def send_template(self, message: TemplateMessage) -> str:
        """Send ``message``; WeChat's msgid. Raises :class:`WechatError`."""
        ...

    def openid_for_code(self, code: str) -> str:
        """The openid behind a web-page authorisation ``code`` (网页授权, snsapi_base)."""
        ...


@dataclass
class RecordingWechat:
    """Keeps every message it is asked to send; ``fail_with`` makes the next ones raise."""

    name: str = "recording"
    sent: list[TemplateMessage] = field(default_factory=list)
    fail_with: WechatError | None = None
    #: Authorisation codes and the openids they stand for.
    codes: dict[str, str] = field(default_factory=dict)

    def openid_for_code(self, code: str) -> str:
        if code not in self.codes:
            raise WechatRefused("40029 invalid code")
        return self.codes[code]

    def send_template(self, message: TemplateMessage) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
        return f"REC-{len(self.sent)}"


#: ``transport(method, url, body)`` answers (HTTP status, body bytes); raises
#: ``OSError`` (``urllib.error.URLError``, ``TimeoutError``) when no answer came.
Transport = Callable[[str, str, bytes | None], tuple[int, bytes]]


def urllib_transport(method: str, url: str, body: bytes | None) -> tuple[int, bytes]:
    """The real transport: one HTTPS request with a timeout and no retries."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() or b""


class HttpWechat:
    """WeChat's template-message API: ``cgi-bin/token`` then ``message/template/send``."""

    name = "wechat"

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        templates: Mapping[str, str],
        *,
        transport: Transport = urllib_transport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.templates = dict(templates)
        self.transport, self.clock = transport, clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def _json(self, method: str, url: str, payload: Any | None = None) -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        try:
            status, raw = self.transport(method, url, body)
        except OSError as exc:
            raise WechatUncertain(f"no answer from WeChat: {exc}") from exc
        if status >= 500:
            raise WechatUncertain(f"WeChat answered HTTP {status}")
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise WechatUncertain(f"WeChat answered HTTP {status} without JSON") from None
        if status >= 400 or not isinstance(answer, dict):
            raise WechatRefused(f"WeChat answered HTTP {status}")
        return answer

    def _access_token(self, *, fresh: bool = False) -> str:
        with self._lock:
            if fresh or self._token is None or self.clock() >= self._expires:
                query = urllib.parse.urlencode(
                    {
                        "grant_type": "client_credential",
                        "appid": self.app_id,
                        "secret": self.app_secret,
                    }
                )
                answer = self._json("GET", f"{API}/token?{query}")
                token = answer.get("access_token")
                if not isinstance(token, str) or not token:
                    raise WechatRefused(
                        f"WeChat refused the access token: {answer.get('errcode')} "
                        f"{answer.get('errmsg', '')}".strip()
                    )
                expires = answer.get("expires_in")
                lifetime = expires if isinstance(expires, int) and expires > 0 else 7200
                # Renew five minutes early: a token must not expire between fetch and use.
                self._token, self._expires = token, self.clock() + max(lifetime - 300, 60)
            return self._token

    def openid_for_code(self, code: str) -> str:
        query = urllib.parse.urlencode(
            {
                "appid": self.app_id,
                "secret": self.app_secret,
                "code": code,
                "grant_type": "authorization_code",
            }
        )
        answer = self._json("GET", f"{SNS_API}/oauth2/access_token?{query}")
        openid = answer.get("openid")
        if not isinstance(openid, str) or not valid_openid(openid):
            raise WechatRefused(
                f"WeChat refused the code: {answer.get('errcode')} {answer.get('errmsg', '')}"
            )
        return openid

    def send_template(self, message: TemplateMessage) -> str:
        template = self.templates.get(message.kind)
        if not template:
            raise WechatRefused(f"no WeChat template configured for '{message.kind}'")
        payload: dict[str, Any] = {
            "touser": message.openid,
            "template_id": template,
            "data": {key: {"value": value} for key, value in message.data.items()},
        }
        if message.url:
            payload["url"] = message.url
        for attempt in range(2):
            token = self._access_token(fresh=attempt > 0)
            url = f"{API}/message/template/send?access_token={urllib.parse.quote(token)}"
            answer = self._json("POST", url, payload)
            code = answer.get("errcode", 0)
            if code in TOKEN_ERRORS and attempt == 0:
                continue  # the token was revoked early: one fresh token, one more try
            if code != 0:
                raise WechatRefused(
                    f"WeChat refused the message: {code} {answer.get('errmsg', '')}"
                )
            return str(answer.get("msgid", ""))
        raise WechatRefused("WeChat refused the access token twice")  # pragma: no cover


def make_notifier(settings: Mapping[str, Any]) -> HttpWechat | None:
    """The HTTP adapter when ``wechat_app_id`` is set, else None (pushes off)."""
    app_id = str(settings.get("wechat_app_id") or "").strip()
    if not app_id:
        return None
    secret = str(settings.get("wechat_app_secret") or "").strip()
    if not secret:
        from hotline.settings import SettingsError

        raise SettingsError("setting 'wechat_app_secret' is required when 'wechat_app_id' is set")
    templates = {
        "outage": str(settings.get("wechat_template_outage") or "").strip(),
        "case": str(settings.get("wechat_template_case") or "").strip(),
    }
    return HttpWechat(app_id, secret, templates)


# -- linking ----------------------------------------------------------------------------


def valid_openid(openid: str) -> bool:
    return bool(OPENID_PATTERN.fullmatch(openid or ""))


def link(session: Session, openid: str, phone: str, now: datetime) -> WechatLink:
    """Link ``openid`` to the E.164 ``phone`` (a new phone replaces the old); the caller commits."""
    owners = set(
        session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.number == phone))
    )
    customer_id = owners.pop() if len(owners) == 1 else None
    row = session.scalar(select(WechatLink).where(WechatLink.openid == openid))
    if row is None:
        row = WechatLink(openid=openid, phone=phone, customer_id=customer_id, linked_at=now)
        session.add(row)
    else:
        row.phone, row.customer_id, row.linked_at = phone, customer_id, now
    return row


def linked_openids(
    session: Session, *, phones: Iterable[str] = (), customer_ids: Iterable[int] = ()
) -> list[str]:
    """The openids linked to any of ``phones`` or ``customer_ids``, without repeats."""
    phones, customer_ids = list(phones), list(customer_ids)
    conditions = []
    if phones:
        conditions.append(WechatLink.phone.in_(phones))
    if customer_ids:
        conditions.append(WechatLink.customer_id.in_(customer_ids))
        conditions.append(
            WechatLink.phone.in_(
                select(CustomerPhone.number).where(CustomerPhone.customer_id.in_(customer_ids))
            )
        )
    if not conditions:
        return []
    found = session.scalars(
        select(WechatLink.openid).where(or_(*conditions)).order_by(WechatLink.id)
    )
    return list(dict.fromkeys(found))


# -- pushing ----------------------------------------------------------------------------


def _count_failure() -> None:
    with _count_lock:
        db.after_commit_failures[FAILURE_KIND] += 1


def push(
    svc: Services,
    notifier: WechatNotifier,
    purpose: str,
    ref: str,
    messages: Iterable[TemplateMessage],
) -> tuple[int, int]:
    """Push each message whose (openid, purpose, ref) was not pushed before; returns
    (sent, failed). Rows are committed before WeChat is asked; never raises WechatError."""
    sent = failed = 0
    for message in messages:
        now = svc.now()
        try:
            with svc.sessions() as session, session.begin():
                row = WechatPush(
                    openid=message.openid,
                    purpose=purpose,
                    ref=ref,
                    status="pending",
                    error="",
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                row_id = row.id
        except IntegrityError:
            continue  # pushed before (or by another process right now)
        msgid, status, error = None, "sent", ""
        try:
            msgid = notifier.send_template(message)
        except WechatError as exc:
            status = "uncertain" if isinstance(exc, WechatUncertain) else "refused"
            error = str(exc)[:2000]
            _count_failure()
            log.warning(
                "WeChat push %s %s to %s failed (%s): %s", purpose, ref, row_id, status, error
            )
        with svc.sessions() as session, session.begin():
            stored = session.get(WechatPush, row_id)
            if stored is not None:
                stored.status, stored.msgid, stored.error = status, msgid, error
                stored.updated_at = svc.now()
        if error:
            failed += 1
        else:
            sent += 1
    return sent, failed


#: The stage words of a case push (as the public status page says them).
STAGE_WORDS = {
    ResidentStage.RECEIVED: "已受理",
    ResidentStage.TRANSFERRED: "已转交相关部门",
    ResidentStage.DISPATCHED: "已派单",
    ResidentStage.ON_THE_WAY: "维修人员已出发",
    ResidentStage.ON_SITE: "已到场",
    ResidentStage.AWAITING_FOLLOW_UP: "已处理完毕,等待回访",
    ResidentStage.CLOSED: "已办结",
}


def case_stage_push(
    svc: Services, notifier: WechatNotifier, case_number: str, status_url: str = ""
) -> tuple[int, int]:
    """Push a case's stage to the accounts linked to its contact phone, once per stage.

    Called after the commit of a change to the case; nothing personal is sent:
    the number, the stage, the promised time while the work is open. It works
    in sessions of its own: the request's unit of work has ended.
    """
    svc = own_sessions(svc)
    with svc.sessions() as session:
        row = session.execute(
            select(Case.number, Case.state, Case.promised_at, Case.contact_phone).where(
                Case.number == case_number
            )
        ).one_or_none()
        if row is None or not row.contact_phone:
            return 0, 0
        openids = linked_openids(session, phones=[row.contact_phone])
    if not openids:
        return 0, 0
    status = resident_status(row.state)
    data = {"number": row.number, "stage": STAGE_WORDS[status.stage]}
    if status.shows_promise and row.promised_at is not None:
        data["promised"] = f"{row.promised_at.astimezone(svc.timezone):%m-%d %H:%M}"
    messages = [TemplateMessage(openid, "case", data, status_url) for openid in openids]
    return push(svc, notifier, "case", f"{row.number}:{status.stage}"[:64], messages)


def own_sessions(svc: Services) -> Services:
    """``svc`` with sessions of its own, never the request's (for work after its commit)."""
    maker = getattr(svc.sessions, "maker", None)
    return replace(svc, sessions=maker) if maker is not None else svc


def read_phone(svc: Services, raw: str) -> str | None:
    """E.164 for a phone typed on a form, or None when it is not a phone number."""
    try:
        return normalise(raw, region=svc.phone_region, default_area_code=svc.area_code)
    except InvalidPhoneNumber:
        return None


# -- the report form --------------------------------------------------------------------

#: The categories a resident picks from, with the need the case records.
REPORT_NEEDS: dict[Category, str] = {
    Category.LEAK: "请派人维修",
    Category.NO_WATER: "请尽快恢复供水",
    Category.WATER_QUALITY: "请检测并处理水质问题",
    Category.METER_FAULT: "请检修水表",
    Category.METER_WELL: "请修复水表井",
    Category.BILLING: "请答复水费问题",
    Category.CONSULTATION: "请答复",
    Category.COMPLAINT: "请调查处理并答复",
    Category.SUGGESTION: "请研究并答复",
}
_REPAIRS = frozenset(
    {
        Category.LEAK,
        Category.NO_WATER,
        Category.WATER_QUALITY,
        Category.METER_FAULT,
        Category.METER_WELL,
    }
)


#: The refusal when no dispatcher can own a report (503, nothing saved).
NobodyOnDuty = NobodyToOwn


@dataclass(frozen=True)
class Report:
    """What a resident types on the account's report form (checked by the web schema)."""

    name: str
    phone: str
    address: str
    problem: str
    category: Category


def report(svc: Services, form: Report, *, owner: OwnerLookup, openid: str | None) -> IntakeResult:
    """A resident's report from the official account: a web case, in one transaction.

    The contact and its case enter the same intake as a call (channel ``web``,
    G4: owned by the dispatcher on duty); the WeChat account, when known, is
    linked to the phone in the same transaction. Raises :class:`Invalid`
    naming ``phone`` for a number that is not one, :class:`NobodyOnDuty`,
    and every refusal of the intake, before anything is written.
    """
    phone = read_phone(svc, form.phone)
    if phone is None:
        raise Invalid("'phone': '%(phone)s' is not a phone number", "phone", "P4", phone=form.phone)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        owner_staff, on_the_roster = owner_or_refuse(session, owner, now, words("the report"))
        summary = "微信公众号报事"
        if not on_the_roster:
            summary += f" · {ROSTER_GAP}"
        command = IntakeCommand(
            channel=Channel.WEB,
            outcome=IntakeOutcome.DISPATCH,
            caller_number=phone,
            caller_name=form.name,
            category=form.category,
            priority=Priority.NORMAL,
            problem=form.problem,
            need=REPORT_NEEDS[form.category],
            address=form.address,
            contact_name=form.name,
            contact_phone=phone,
            triage=(
                TriageOutcome.UNDETERMINED
                if form.category in _REPAIRS
                else TriageOutcome.NOT_A_REPAIR
            ),
            summary=summary,
            started_at=now,
            answered_at=now,
        )
        result = intake(in_unit(svc, session), Actor.of(owner_staff), command)
        if openid:
            link(session, openid, phone, now)
    return result
