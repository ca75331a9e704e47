"""The live script session kept as data between requests (``callflows.domain.live``).

Pure Python, no database: a session rebuilt from its stored log is the very
session the operator built, with the original times, so the compliance record
and P4's gate are the engine's own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callflows.bootstrap import load_scripts
from callflows.domain import live
from callflows.domain.engine import ReadBackRequired, StepRequired
from hotline.settings import load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def scripts():
    return load_scripts(load_settings())


def test_a_rebuilt_session_has_the_fields_steps_and_times_of_the_original(scripts):
    clock = Clock()
    script = live.start(scripts["inbound_hotline"], clock, known={"contact_phone": "13805341234"})
    clock.now += timedelta(seconds=5)
    script.apply("complete")
    clock.now += timedelta(seconds=7)
    script.apply("answer", {"answer": "complaint"})
    stored = script.to_state()

    later = Clock()
    later.now = clock.now + timedelta(hours=1)
    rebuilt = live.restore(scripts, stored, later)

    assert rebuilt.session.fields == script.session.fields
    assert rebuilt.session.fields["category"] == "complaint"
    assert [r.at for r in rebuilt.session.history] == [r.at for r in script.session.history]
    assert rebuilt.session.started_at == script.session.started_at
    assert rebuilt.session.current_step.id == "apology"
    assert stored["done_steps"] == ["greeting", "purpose"]
    rebuilt_record = rebuilt.session.compliance_record().to_dict()
    original_record = script.session.compliance_record().to_dict()
    rebuilt_record.pop("as_of"), original_record.pop("as_of")  # taken now, on a live call
    assert rebuilt_record == original_record


def test_a_refused_operation_is_not_stored(scripts):
    script = live.start(scripts["inbound_hotline"], Clock())

    with pytest.raises(StepRequired):
        script.apply("skip")

    assert [entry["op"] for entry in script.to_state()["ops"]] == ["start"]


def test_the_read_back_gate_holds_in_a_rebuilt_session(scripts):
    clock = Clock()
    script = live.start(scripts["inbound_hotline"], clock)
    for name, value in (
        ("problem", "漏水"),
        ("need", "维修"),
        ("address", "汉槐街"),
        ("contact_phone", "1"),
    ):
        script.apply("capture", {"field": name, "value": value})
    script.apply("confirm_read_back")
    script.apply("capture", {"field": "need", "value": "尽快维修"})

    rebuilt = live.restore(scripts, script.to_state(), clock)

    with pytest.raises(ReadBackRequired):
        rebuilt.session.require_ready_to_submit()


@pytest.mark.parametrize(
    ("op", "args"),
    [("teleport", {}), ("capture", {"field": "problem"}), ("answer", {"answer": ""})],
)
def test_an_unknown_operation_or_a_missing_argument_is_refused(scripts, op, args):
    script = live.start(scripts["inbound_hotline"], Clock())

    with pytest.raises(ValueError):
        script.apply(op, args)


def test_state_for_a_script_no_longer_loaded_is_refused(scripts):
    state = live.start(scripts["inbound_hotline"], Clock()).to_state()

    with pytest.raises(live.StateError, match="not loaded"):
        live.restore({}, state, Clock())


def test_a_log_that_no_longer_replays_is_refused(scripts):
    script = live.start(scripts["inbound_hotline"], Clock())
    script.apply("complete")
    state = script.to_state()
    state["ops"][1] = {**state["ops"][1], "op": "answer", "answer": "nonsense"}

    with pytest.raises(live.StateError, match="no longer replays"):
        live.restore(scripts, state, Clock())
