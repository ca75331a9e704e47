"""The crew's rules: the next sensible step, field reports (F8), photos, the
meter well's on-site check (F10)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.domain import crew
from hotline.domain import actions, site_checks
from hotline.domain.errors import Invalid
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Role

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _next(state: State, named_worker: bool = True) -> Action | None:
    offer = crew.crew_offer(actions.available_actions(Role.CREW, state), named_worker=named_worker)
    return offer.next_action


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State.ASSIGNED, Action.ACCEPT),
        (State.ACCEPTED, Action.ASSIGN_WORKER),
        (State.WORKER_ASSIGNED, Action.ACKNOWLEDGE),
        (State.ACKNOWLEDGED, Action.START_WORK),
        (State.IN_PROGRESS, Action.ARRIVE),
        (State.ON_SITE, Action.COMPLETE),
        (State.EXTENSION_APPROVED, Action.ARRIVE),
        (State.EXTENSION_REQUESTED, None),
    ],
)
def test_the_next_step_follows_the_work_in_order(state: State, expected: Action | None) -> None:
    assert _next(state) == expected


@pytest.mark.parametrize("state", [State.ASSIGNED, State.ACKNOWLEDGED, State.ON_SITE])
def test_a_hand_back_is_never_the_next_step_but_is_offered_below(state: State) -> None:
    offer = crew.crew_offer(actions.available_actions(Role.CREW, state))
    assert offer.next_action != Action.RETURN_WORK
    assert offer.side_actions[0] == Action.RETURN_WORK


def test_a_colleague_is_not_offered_the_named_workers_steps() -> None:
    offer = crew.crew_offer(
        actions.available_actions(Role.CREW, State.WORKER_ASSIGNED), named_worker=False
    )
    assert offer.next_action is None
    assert Action.ASSIGN_WORKER in offer.side_actions


def test_f8_field_reports_are_leaks_meter_faults_and_meter_wells() -> None:
    assert crew.check_field_category("meter_fault") == Category.METER_FAULT
    with pytest.raises(Invalid) as refused:
        crew.check_field_category(Category.BILLING)
    assert refused.value.field == "category"


def test_f8_a_field_report_is_due_by_the_end_of_its_day() -> None:
    late = datetime(2026, 11, 26, 22, 30, tzinfo=SHANGHAI)
    assert crew.end_of_day(late, SHANGHAI) == datetime(2026, 11, 26, 23, 59, 59, tzinfo=SHANGHAI)


def test_photos_are_told_apart_by_their_first_bytes() -> None:
    assert crew.sniff_photo_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert crew.sniff_photo_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert crew.sniff_photo_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert crew.sniff_photo_type(b"GIF89a") is None


def test_photo_limits_count_those_a_case_already_has() -> None:
    photo = crew.PhotoUpload("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    assert crew.check_photos([photo], already=4) == ["image/png"]
    with pytest.raises(Invalid):
        crew.check_photos([photo, photo], already=4)


def test_f10_only_a_meter_wells_completion_opens_an_on_site_check_due_in_2_days() -> None:
    assert site_checks.needs_site_check(Category.METER_WELL, Action.COMPLETE)
    assert not site_checks.needs_site_check(Category.METER_FAULT, Action.COMPLETE)
    assert not site_checks.needs_site_check(Category.METER_WELL, Action.ARRIVE)
    repaired = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
    due = site_checks.site_check_due(repaired)
    assert due == repaired + timedelta(days=2)
    assert site_checks.site_check_met(due, due) and not site_checks.site_check_met(
        due, due + timedelta(1)
    )
