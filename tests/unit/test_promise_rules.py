"""Promises stay true (G7): when the caller's promised time is stale, and who closes the task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.domain.errors import Conflict, Forbidden, Invalid
from hotline.domain.promises import TaskFacts, check_mark_told, heard, is_stale, new_promise

T = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def test_a_moved_deadline_makes_the_promise_stale():
    assert is_stale(T, T + timedelta(days=2))
    assert is_stale(T, T - timedelta(hours=1))
    assert is_stale(None, T)


def test_the_same_time_or_no_time_is_not_stale():
    assert not is_stale(T, T)
    assert not is_stale(T, T + timedelta(seconds=30))
    assert not is_stale(T, None)


def test_the_new_promise_is_the_resolve_clock_else_the_promise_moved_with_the_deadline():
    due = T - timedelta(hours=10)
    assert new_promise(T, T + timedelta(days=3), due, due) == T + timedelta(days=3)
    assert new_promise(T, None, due, due + timedelta(days=4)) == T + timedelta(days=4)
    assert new_promise(None, None, due, due + timedelta(days=4)) == due + timedelta(days=4)
    assert new_promise(T, None, None, None) == T


def test_while_a_task_is_open_the_caller_still_holds_its_old_time():
    assert heard(T + timedelta(days=1), T, has_open_task=True) == T
    assert heard(T + timedelta(days=1), None, has_open_task=False) == T + timedelta(days=1)


TASK = TaskFacts(owner_id=1, first_responder_id=1, done_at=None)


def test_the_first_responder_marks_it_done_with_a_note():
    assert check_mark_told(1, TASK, "  已电话告知新时限  ") == "已电话告知新时限"


def test_a_new_first_responder_may_mark_it_done_too():
    assert check_mark_told(2, TaskFacts(owner_id=1, first_responder_id=2, done_at=None), "已告知")


def test_nobody_else_may_mark_it_done_naming_g7():
    with pytest.raises(Forbidden) as refused:
        check_mark_told(9, TASK, "已告知")
    assert refused.value.rule == "G7" and "G7" in refused.value.message


def test_the_note_is_required_and_a_done_task_stays_done():
    with pytest.raises(Invalid) as refused:
        check_mark_told(1, TASK, " ")
    assert refused.value.field == "note"
    with pytest.raises(Conflict):
        check_mark_told(1, TaskFacts(1, 1, done_at=T), "再次告知")
