"""The tamper check's findings in the interface language.

The check (``hotline.domain.audit``) words each problem in English for the
command line; the audit page shows it in the page's language: where (a
case, one of its events, an anchor, a day's numbering) and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _

if TYPE_CHECKING:
    from hotline.domain.audit import Problem

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
