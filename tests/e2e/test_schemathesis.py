"""Schemathesis against the real application, from its own OpenAPI document.

Every operation of ``/api/openapi.json`` gets requests generated from the
document (valid ones and ones that break it), sent to the real app over WSGI
on a fresh SQLite file, once with an operator's token and once with a
supervisor's. Each answer must not be a 5xx, and its status, content type and
body must be what the document says (schemathesis's ``not_a_server_error``,
``status_code_conformance``, ``content_type_conformance`` and
``response_schema_conformance``). A request naming a case, call, appointment
or shift is sent again naming a real one, so the answers of real resources are
checked too, not only 404s.

The budget is bounded (a fixed seed, a few examples per operation), so the
whole file runs in about a minute on two cores. ``HOTLINE_SCHEMATHESIS_EXAMPLES``
raises it for a longer local run.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import callflows.models  # noqa: F401
import dispatch.models  # noqa: F401
from callflows import services as calls
from callflows.web.simulator import place_call
from dispatch.services import duty
from hotline import services
from hotline.app import create_app
from hotline.db import Base, make_engine
from hotline.domain.lifecycle import State
from tests.support import bring_case_to, seed_org

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = int(os.environ.get("HOTLINE_SCHEMATHESIS_EXAMPLES", "8"))
ROLES = ("operator", "supervisor")

#: Statuses seen, per role, for the summary printed at the end of the run.
SEEN: dict[str, Counter[int]] = {role: Counter() for role in ROLES}


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": int(os.environ.get("HOTLINE_SCHEMATHESIS_SEED", "20261126")),
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
        }
    )


def _seed(app: Any) -> dict[str, Any]:
    """People, cases in a few states, a live call, a shift and an appointment."""
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    number = bring_case_to(svc, org, State.ASSIGNED)
    bring_case_to(svc, org, State.WITH_DISPATCH)
    bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    now = svc.now()
    appointment = services.book_appointment(
        svc,
        org["dispatcher"],
        number,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        requested_by_customer=False,
    )
    shift = duty.add_shift(
        svc,
        org["dispatcher"],
        staff_id=org["dispatcher"].id,
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=9),
    )
    flows = app.extensions["callflows"]
    call_id = place_call(svc, flows, "13805341234")
    calls.answer(svc, flows, org["operator"], call_id)
    return {
        "org": org,
        "real": {
            "number": number,
            "call_id": call_id,
            "appointment_id": appointment.id,
            "shift_id": shift.id,
        },
    }


def _document() -> dict[str, Any]:
    """The app's OpenAPI document (it does not depend on the database's contents)."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "database_url": f"sqlite:///{Path(folder) / 'document.db'}",
                "secret_key": "document-only",
                "INSTANCE_PATH": str(Path(folder) / "instance"),
            }
        )
        try:
            return app.test_client().get("/api/openapi.json").get_json()
        finally:
            app.extensions["hotline.engine"].dispose()


schema = schemathesis.openapi.from_dict(_document(), config=_config())


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def send(tmp_path: Path, role: str) -> Iterator[Any]:
    """Send a case to the real app on a fresh SQLite file as ``role``, and once more
    against the real resources it names."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(
        {
            "database_url": url,
            "secret_key": "schemathesis-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    facts = _seed(app)
    headers = {"Authorization": f"Bearer {facts['org'].tokens[role]}"}
    real = facts["real"]

    def run(case: Any) -> None:
        response = case.call_and_validate(app=app, headers=headers, checks=CHECKS)
        SEEN[role][response.status_code] += 1
        named = set(case.path_parameters or {}) & set(real)
        if named:
            for name in named:
                case.path_parameters[name] = real[name]
            response = case.call_and_validate(app=app, headers=headers, checks=CHECKS)
            SEEN[role][response.status_code] += 1

    yield run
    app.extensions["hotline.engine"].dispose()


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one app per operation and role, on purpose
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_operation_answers_as_documented_never_5xx(case: Any, send: Any) -> None:
    send(case)


def test_the_runs_were_counted() -> None:
    """Print how many answers of each status each role got (run with ``-s`` to see)."""
    for role in ROLES:
        statuses = SEEN[role]
        if statuses:
            total = sum(statuses.values())
            print(
                f"\nschemathesis as {role}: {total} responses, "
                f"by status {dict(sorted(statuses.items()))}"
            )
            assert not [code for code in statuses if code >= 500]
