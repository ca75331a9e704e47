"""A case's history and the tamper check's findings, told in sentences.

Each event becomes one sentence in the interface language: when (the
utility's time, ``11-26 14:05``), who (role and name, or the system), what
(the action's name), from which state to which, the reason, and the facts
that matter named with their labels and units. Nothing raw is shown: a fact
without a label, a nested value or an id with no name is left out. Used by
the audit page; the case page can show the same lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _

from hotline.web import labels
from hotline.web.i18n import local_time

if TYPE_CHECKING:
    from hotline.domain.audit import Problem
    from hotline.models import CaseEvent


@dataclass(frozen=True)
class HistoryLine:
    """One event in words: its sequence number, time, sentence and facts."""

    seq: int
    at: str
    sentence: str
    reason: str
    facts: list[tuple[str, str]]

    @property
    def text(self) -> str:
        """The whole line as one text (sentence, reason, facts)."""
        parts = [self.sentence]
        if self.reason:
            parts.append(_("原因:%(reason)s。", reason=self.reason))
        if self.facts:
            parts.append("；".join(f"{name}:{value}" for name, value in self.facts) + "。")
        return " ".join(parts)


def _who(event: CaseEvent) -> str:
    actor = event.actor
    if actor is None:
        return _("系统")
    return _(
        "%(role)s %(name)s", role=labels.label(labels.ROLE, actor.role), name=actor.display_name
    )


def _facts(
    data: dict[str, Any], staff_names: dict[int, str], department_names: dict[int, str]
) -> list[tuple[str, str]]:
    """The facts with a label and a plain value; days and minutes with their units."""
    plain = {
        key: value
        for key, value in (data or {}).items()
        if key in labels.EVENT_DATA
        and (not isinstance(value, dict | list) or key == "stages")
        and not (
            (key.endswith("_id") and isinstance(value, int))
            and value not in staff_names
            and value not in department_names
            and not key.endswith(("appointment_id", "order_id", "update_id"))
        )
    }
    facts = labels.event_facts(plain, staff_names, department_names)
    days = plain.get("extra_working_days")
    if isinstance(days, int):
        label = str(labels.EVENT_DATA["extra_working_days"])
        facts = [
            (name, _("%(days)s 个工作日", days=days) if name == label else text)
            for name, text in facts
        ]
    return facts


def event_line(
    event: CaseEvent, staff_names: dict[int, str], department_names: dict[int, str]
) -> HistoryLine:
    """``event`` as one sentence with its reason and facts."""
    who = _who(event)
    what = labels.label(labels.ACTION, event.action)
    to_state = labels.label(labels.STATE, event.to_state)
    if event.from_state and event.from_state != event.to_state:
        sentence = _(
            "%(who)s办理「%(what)s」,工单由「%(from)s」转为「%(to)s」。",
            who=who,
            what=what,
            to=to_state,
            **{"from": labels.label(labels.STATE, event.from_state)},
        )
    else:
        sentence = _(
            "%(who)s办理「%(what)s」,工单状态为「%(to)s」。", who=who, what=what, to=to_state
        )
    return HistoryLine(
        seq=event.seq,
        at=local_time(event.at),
        sentence=sentence,
        reason=event.reason or "",
        facts=_facts(event.data, staff_names, department_names),
    )


def history_lines(
    events: list[CaseEvent], staff_names: dict[int, str], department_names: dict[int, str]
) -> list[HistoryLine]:
    """A case's events, in order, as sentences."""
    return [event_line(event, staff_names, department_names) for event in events]


# -- the tamper check's findings ---------------------------------------------------------------

_ANCHOR = re.compile(r"^anchor (\d+)$")
_DAY = re.compile(r"^day (\d{8})$")

#: The check's findings, by their wording, in the interface language.
_FINDINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^content was changed after it was written"), "content_changed"),
    (re.compile(r"^expected event (?P<n>\d+): an event is missing"), "event_missing"),
    (re.compile(r"^does not link to the event before it"), "not_linked"),
    (re.compile(r"^the case has no events"), "no_events"),
    (re.compile(r"^the case records (?P<n>\d+) events but the chain ends at (?P<m>\d+)"), "short"),
    (re.compile(r"^has no row digest"), "no_digest"),
    (re.compile(r"^the case row differs from the row its last event \((?P<n>\d+)\)"), "row"),
    (re.compile(r"^differs from the event anchor (?P<n>\d+) sealed"), "rewritten"),
    (re.compile(r"^is missing, yet the numbers of (?P<d>\d+) run to (?P<n>\d+)"), "deleted"),
    (
        re.compile(r"^was sealed by anchor (?P<n>\d+) with (?P<m>\d+) event\(s\) and is gone"),
        "gone",
    ),
    (re.compile(r"^its seal does not match"), "forged"),
    (re.compile(r"^anchor (?P<n>\d+) is missing"), "anchor_missing"),
)


def _finding(kind: str, groups: dict[str, str]) -> str:
    texts = {
        "content_changed": lambda: _("记录写入后内容被改动。"),
        "event_missing": lambda: _("应为第 %(n)s 条记录:缺少一条记录。", n=groups.get("n")),
        "not_linked": lambda: _("与前一条记录衔接不上。"),
        "no_events": lambda: _(
            "工单没有任何处理记录,而每张工单登记时都有一条:记录在系统之外被删除。"
        ),
        "short": lambda: _(
            "工单记有 %(n)s 条记录,而记录链只到第 %(m)s 条:记录在系统之外被删改。",
            n=groups.get("n"),
            m=groups.get("m"),
        ),
        "no_digest": lambda: _("记录缺少工单摘要:在系统之外被删除。"),
        "row": lambda: _(
            "工单与其最后一条记录(第 %(n)s 条)所记的不一致:在系统之外被修改。", n=groups.get("n")
        ),
        "rewritten": lambda: _(
            "与第 %(n)s 次封存时的记录不同:处理记录在系统之外被改写。", n=groups.get("n")
        ),
        "deleted": lambda: _(
            "工单不见了,而 %(d)s 的编号已排到 %(n)s:工单在系统之外被删除。",
            d=groups.get("d"),
            n=groups.get("n"),
        ),
        "gone": lambda: _(
            "第 %(n)s 次封存时有 %(m)s 条记录,现已不见:在系统之外被删除。",
            n=groups.get("n"),
            m=groups.get("m"),
        ),
        "forged": lambda: _("封存签名不符:封存记录被伪造或修改。"),
        "anchor_missing": lambda: _(
            "缺少第 %(n)s 次封存:封存记录在系统之外被删除。", n=groups.get("n")
        ),
    }
    return texts[kind]()


@dataclass(frozen=True)
class FindingLine:
    """One finding of the check: what it concerns (case, event) and what is wrong."""

    case_number: str
    where: str
    what: str


def problem_line(problem: Problem) -> FindingLine:
    """``problem`` in the interface language (its own wording when it has no translation)."""
    subject = problem.case_number
    anchor, day = _ANCHOR.match(subject), _DAY.match(subject)
    if anchor:
        where = _("第 %(n)s 次封存", n=anchor.group(1))
    elif day:
        where = _("%(day)s 的工单编号", day=day.group(1))
    elif problem.where is None and problem.seq is not None:
        where = _("工单 %(number)s 第 %(seq)s 条记录", number=subject, seq=problem.seq)
    elif problem.where is None:
        where = _("工单 %(number)s 的记录链末端", number=subject)
    elif problem.where == "row":
        where = _("工单 %(number)s 的工单内容", number=subject)
    else:
        where = _("工单 %(number)s", number=subject)
    for pattern, kind in _FINDINGS:
        match = pattern.match(problem.message)
        if match:
            return FindingLine(subject, where, _finding(kind, match.groupdict()))
    return FindingLine(subject, where, problem.message)
