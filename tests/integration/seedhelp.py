"""Seeds the page walks share: a dispatcher's shift, an outage under way, and a
crew's field report with a photo (F8), so pages that list them show them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dispatch.domain.crew import PhotoUpload
from dispatch.services import crew as crew_service
from dispatch.services import duty
from dispatch.services.outages import OutageNotice, publish_outage


def shift_outage_and_field_case(app: Any, svc: Any, org: Any, clock: Any) -> tuple[str, list[int]]:
    """Seed them; returns the field case's number and its photos' ids."""
    dispatcher = org["dispatcher"]
    duty.add_shift(
        svc,
        dispatcher,
        staff_id=dispatcher.id,
        starts_at=clock.now - timedelta(hours=1),
        ends_at=clock.now + timedelta(hours=11),
    )
    with svc.sessions() as session, session.begin():
        publish_outage(
            session,
            OutageNotice(
                area="汉槐街",
                area_keywords=["汉槐街"],
                reason="管道抢修",
                starts_at=clock.now,
                ends_at=clock.now + timedelta(hours=4),
                planned=False,
            ),
            by_id=dispatcher.id,
            now=clock.now,
        )
    field_case = crew_service.open_field_case(
        svc,
        org["crew"],
        crew_service.FieldReport(
            category="leak",
            problem="阀门井渗水",
            address="汉槐街 20 号",
            contact_phone="13905344444",
        ),
        [PhotoUpload("well.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)],
        app.instance_path,
    )
    with svc.sessions() as session:
        photos = [p.id for p in crew_service.case_photos(session, org["crew"], field_case.number)]
    return field_case.number, photos
