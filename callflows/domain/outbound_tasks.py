"""Outbound work as one queue (外呼任务): what a task is, which comes first, what a
follow-up call's answers mean for its case.

Pure Python: no Flask, no database. The service
(:mod:`callflows.services.outbound_tasks`) writes the rows; these rules decide

* the kinds of outbound work and the script each runs (P7 follow-up, W11
  booked call-back, W14 abnormal usage with a deadline, W15 dunning, and the
  missed caller's call-back);
* the key that makes each task exist once (:func:`subject_key`);
* the order in which operators pull tasks (:func:`urgency`);
* what a finished follow-up script asks of the case (:func:`follow_up_decision`):
  close it rated, reopen it to dispatch with the customer's words, or count
  an unreachable attempt;
* the rows of an anomaly list (:func:`parse_anomalies`) and how long a
  customer has been in arrears, in words (:func:`arrears_period`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from hotline.domain.errors import Rejected, words
from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import FollowUpOutcome

__all__ = [
    "ABNORMAL_USAGE_DEADLINE",
    "MAX_ANOMALY_ROWS",
    "RATINGS",
    "SCRIPT_OF",
    "Anomaly",
    "AnomalyError",
    "AttemptOutcome",
    "FollowUpDecision",
    "TaskKind",
    "TaskState",
    "arrears_period",
    "follow_up_decision",
    "parse_anomalies",
    "subject_key",
    "urgency",
]


class TaskKind(StrEnum):
    """What an outbound task is for."""

    FOLLOW_UP = "follow_up"  # 回访 (P7)
    CALL_BACK = "call_back"  # 未接来电回拨
    BOOKED_CALL_BACK = "booked_call_back"  # 预约回电 (W11)
    ABNORMAL_USAGE = "abnormal_usage"  # 用水异常 (W14)
    DUNNING = "dunning"  # 催缴 (W15)


class TaskState(StrEnum):
    """Where a task stands.

    ``open``: waiting in the queue (with or without an owner);
    ``needs_decision``: the follow-up's caller was not reached after the
    configured attempts, a supervisor decides (P7); ``done`` and
    ``cancelled`` leave the queue.
    """

    OPEN = "open"  # 待办
    NEEDS_DECISION = "needs_decision"  # 待班长决定
    DONE = "done"  # 已完成
    CANCELLED = "cancelled"  # 已取消


#: States in which a task is still work to do.
ACTIVE_STATES = frozenset({TaskState.OPEN, TaskState.NEEDS_DECISION})


class AttemptOutcome(StrEnum):
    """What one attempt to reach the customer came to."""

    REACHED = "reached"  # 已联系上
    NO_ANSWER = "no_answer"  # 无人接听或无法接通
    CALL_LATER = "call_later"  # 用户不方便,约定再打
    WRONG_PERSON = "wrong_person"  # 不是本人


#: The call script each kind runs; ``None``: the operator logs the call by hand.
SCRIPT_OF: Mapping[TaskKind, str | None] = {
    TaskKind.FOLLOW_UP: "follow_up_call",
    TaskKind.CALL_BACK: None,
    TaskKind.BOOKED_CALL_BACK: None,
    TaskKind.ABNORMAL_USAGE: None,
    TaskKind.DUNNING: "dunning_call",
}

#: W14: an abnormal-usage task is due at once and must be done within this time.
ABNORMAL_USAGE_DEADLINE = timedelta(hours=24)

#: The most rows one anomaly list may carry.
MAX_ANOMALY_ROWS = 5000

#: A follow-up answer as the 1-5 rating the case keeps (P7: attitude, quality,
#: timeliness, result).
RATINGS: Mapping[str, int] = {
    "satisfied": 5,
    "basically_satisfied": 3,
    "dissatisfied": 1,
}

#: The four aspects a follow-up asks about, in the script's order.
ASPECTS = ("attitude", "quality", "timeliness", "result")


def subject_key(kind: TaskKind, *parts: object) -> str:
    """The text that names the one thing a task is about, unique per kind.

    ``follow_up``: the case and its round (a reopened case gets a new
    follow-up); ``call_back``: the missed call; ``booked_call_back``: the
    phone and the booked time; ``abnormal_usage``: the account and the
    reading; ``dunning``: the account and the month.
    """
    if not parts:
        raise ValueError("a task needs what it is about")
    text = ":".join(str(part).strip() for part in parts)
    return f"{kind.value}:{text}"[:120]


def urgency(deadline_at: datetime | None, due_at: datetime, task_id: int) -> tuple[Any, ...]:
    """The sort key of a due task: the nearest deadline first, then the oldest due.

    Tasks without a deadline come after every task with one.
    """
    return (deadline_at is None, deadline_at or due_at, due_at, task_id)


@dataclass(frozen=True)
class FollowUpDecision:
    """What a finished follow-up script asks of its case.

    ``action`` is the lifecycle action to take (``None``: nothing, the
    customer asked to be called later); ``data`` the action's fields;
    ``attempt`` the attempt's outcome; ``note`` what the attempt records.
    """

    action: Action | None
    data: Mapping[str, Any]
    attempt: AttemptOutcome
    note: str = ""


class FollowUpIncomplete(Rejected):
    """The script's answers do not settle the follow-up yet; ``field`` names what is missing."""

    def __init__(self, message: str, field: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


def follow_up_decision(fields: Mapping[str, str], answers: Mapping[str, str]) -> FollowUpDecision:
    """What the follow-up script's ``fields`` and step ``answers`` mean for the case (P7).

    * not reached (no answer, wrong person): one unreachable attempt;
    * not a good time: an attempt, the task stays, the case does not move;
    * satisfied or basically satisfied: close, with the four ratings;
    * dissatisfied: reopen to dispatch, with the customer's words, which
      must have been captured.

    Raises :class:`FollowUpIncomplete` when the script has not reached a
    decision (a rating or the overall outcome is missing, or a dissatisfied
    customer's words were not written down).
    """
    dial = answers.get("dial")
    greeting = answers.get("greeting")
    comment = (fields.get("follow_up_comment") or "").strip()
    if dial is None:
        raise FollowUpIncomplete(words("the follow-up call was not placed yet"), "dial")
    if dial == "no_answer" or fields.get("follow_up_outcome") == FollowUpOutcome.UNREACHABLE:
        return FollowUpDecision(
            Action.FOLLOW_UP_UNREACHABLE, {"note": comment}, AttemptOutcome.NO_ANSWER, comment
        )
    if greeting is None:
        raise FollowUpIncomplete(words("the greeting has no answer yet"), "greeting")
    if greeting == "wrong_person":
        note = comment or "不是本人/不知情"
        return FollowUpDecision(
            Action.FOLLOW_UP_UNREACHABLE, {"note": note}, AttemptOutcome.WRONG_PERSON, note
        )
    if greeting == "not_convenient":
        note = (fields.get("callback_time") or "").strip()
        return FollowUpDecision(None, {}, AttemptOutcome.CALL_LATER, note)
    ratings: dict[str, int] = {}
    for aspect in ASPECTS:
        value = fields.get(aspect)
        if value not in RATINGS:
            raise FollowUpIncomplete(words("'%(aspect)s' is not rated yet"), aspect, aspect=aspect)
        ratings[aspect] = RATINGS[value]
    overall = fields.get("follow_up_outcome")
    if overall in (FollowUpOutcome.SATISFIED, FollowUpOutcome.BASICALLY_SATISFIED):
        data = {"outcome": str(overall), **ratings, "note": comment}
        return FollowUpDecision(Action.CLOSE, data, AttemptOutcome.REACHED, comment)
    if overall == FollowUpOutcome.DISSATISFIED:
        if not comment:
            raise FollowUpIncomplete(
                words("write down what the dissatisfied customer said; dispatch works from it"),
                "follow_up_comment",
            )
        data = {"outcome": str(overall), **ratings, "note": comment}
        return FollowUpDecision(Action.REOPEN, data, AttemptOutcome.REACHED, comment)
    raise FollowUpIncomplete(words("the overall outcome is not recorded yet"), "follow_up_outcome")


# -- abnormal usage (W14) ----------------------------------------------------


class AnomalyError(Rejected):
    """A row of an anomaly list that cannot be read; ``line`` is 1-based.

    The words begin with the line: ``line %(line)s: …`` (``line`` is filled in).
    """

    def __init__(self, message: str, line: int, field: str, **params: Any) -> None:
        super().__init__(message, line=line, **params)
        self.line = line
        self.field = field


@dataclass(frozen=True)
class Anomaly:
    """One abnormal reading: the account, the reading and what was expected."""

    account_number: str
    reading: Decimal
    expected: Decimal


def _amount(value: object, line: int, name: str) -> Decimal:
    text = str(value if value is not None else "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise AnomalyError(
            words("line %(line)s: '%(name)s' must be a number, got '%(text)s'"),
            line,
            name,
            name=name,
            text=text,
        ) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e9"):
        raise AnomalyError(
            words("line %(line)s: '%(name)s' must be from 0 to 999999999, got %(text)s"),
            line,
            name,
            name=name,
            text=text,
        )
    return amount.quantize(Decimal("0.01"))


def anomaly_of(row: Mapping[str, object], line: int) -> Anomaly:
    """One anomaly from a mapping with ``account``, ``reading`` and ``expected``."""
    account = str(row.get("account") or "").strip()
    if not account or len(account) > 32 or any(ch in account for ch in ":\n\r"):
        raise AnomalyError(
            words("line %(line)s: 'account' must be an account number of 1 to 32 characters"),
            line,
            "account",
        )
    return Anomaly(
        account,
        _amount(row.get("reading"), line, "reading"),
        _amount(row.get("expected"), line, "expected"),
    )


def parse_anomalies(text: str) -> list[Anomaly]:
    """The anomalies of a CSV list with the header ``account,reading,expected``.

    Raises :class:`AnomalyError` naming the first bad line and field; an
    empty list, a missing column or more than :data:`MAX_ANOMALY_ROWS` rows is
    refused as a whole.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    for name in ("account", "reading", "expected"):
        if name not in header:
            raise AnomalyError(
                words("line %(line)s: the header must name '%(name)s' (account,reading,expected)"),
                1,
                name,
                name=name,
            )
    rows: list[Anomaly] = []
    for index, raw in enumerate(reader, start=2):
        row = {str(k).strip(): v for k, v in raw.items() if k is not None}
        if not any(str(v or "").strip() for v in row.values()):
            continue
        rows.append(anomaly_of(row, index))
        if len(rows) > MAX_ANOMALY_ROWS:
            raise AnomalyError(
                words("line %(line)s: a list holds at most %(most)s rows"),
                index,
                "file",
                most=MAX_ANOMALY_ROWS,
            )
    if not rows:
        raise AnomalyError(words("line %(line)s: the list has no rows"), 1, "file")
    return rows


# -- dunning (W15) -----------------------------------------------------------


def arrears_period(since: date | None, today: date) -> str:
    """How long a customer has been in arrears, as the dunning script says it."""
    if since is None or since > today:
        return "一段"
    days = (today - since).days
    months = (today.year - since.year) * 12 + today.month - since.month
    if today.day < since.day:
        months -= 1
    if months >= 1:
        return f"{months}个月"
    return f"{max(days, 1)}天"
