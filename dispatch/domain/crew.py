"""The crew's rules (班组): the next step of the work, field reports (F8), the
meter well's on-site check (F10) and the photos a field report carries.

Pure Python over plain values (no Flask, no database), so each rule is tested
in milliseconds. The services (``dispatch.services.crew``) write what these
rules decide; the crew page (``dispatch.web.crew``) shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from hotline.domain.errors import Invalid
from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import Category

# -- the next sensible action ----------------------------------------------------------

#: The work in its order: the department signs for the case (签收) and names
#: its worker (派工); the worker takes it (接单), sets out (出发), arrives (到场)
#: and completes it (办结).
WORK_ORDER: tuple[Action, ...] = (
    Action.ACCEPT,
    Action.ASSIGN_WORKER,
    Action.ACKNOWLEDGE,
    Action.START_WORK,
    Action.ARRIVE,
    Action.COMPLETE,
)
#: What a crew may also do, below the next step and smaller: hand back (G7), ask for
#: time (F11), name another worker.
SIDE_ACTIONS: tuple[Action, ...] = (
    Action.RETURN_WORK,
    Action.REQUEST_EXTENSION,
    Action.ASSIGN_WORKER,
)
#: The named worker's own steps: a colleague in the department is not offered them.
WORKER_STEPS = frozenset({Action.ACKNOWLEDGE, Action.START_WORK, Action.ARRIVE, Action.COMPLETE})


@dataclass(frozen=True)
class CrewOffer:
    """What the crew page shows on a case: the next step first and big, the rest below."""

    next_action: Action | None
    side_actions: tuple[Action, ...]


def crew_offer(available: Iterable[Action], *, named_worker: bool = True) -> CrewOffer:
    """The next sensible step among ``available`` (the actions the rules allow the crew).

    ``named_worker``: whether the person is the worker the case is with (or
    no worker is named yet); others in the department are not offered the
    worker's own steps.

    The first step of :data:`WORK_ORDER` still open is the next one: on a case
    just sent to the department, signing for it; then naming the worker; the
    worker takes it; once taken, setting out (arriving and completing stay
    possible, but the work goes in order); on site, completing. A hand-back or an extension request is never the next step:
    they come below, in that order.
    """
    allowed = set(available)
    if Action.ACKNOWLEDGE in allowed:
        allowed.discard(Action.ASSIGN_WORKER)  # named already: naming another is a side step
        side_assign = True
    else:
        side_assign = False
    if not named_worker:
        allowed -= WORKER_STEPS
    upcoming = next((action for action in WORK_ORDER if action in allowed), None)
    if side_assign:
        allowed.add(Action.ASSIGN_WORKER)
    return CrewOffer(
        next_action=upcoming,
        side_actions=tuple(
            action for action in SIDE_ACTIONS if action in allowed and action != upcoming
        ),
    )


# -- field reports (F8) ----------------------------------------------------------------

#: F8: what a crew reports from the field the same day (当日报单): a leak,
#: a meter fault, a damaged meter box or well (F10).
FIELD_CATEGORIES: tuple[Category, ...] = (
    Category.LEAK,
    Category.METER_FAULT,
    Category.METER_WELL,
)


def check_field_category(category: Category | str | None) -> Category:
    """The category of a field report; raises :class:`Invalid` naming ``category`` (F8)."""
    try:
        chosen = Category(category) if category else None
    except ValueError:
        chosen = None
    if chosen not in FIELD_CATEGORIES:
        names = ", ".join(FIELD_CATEGORIES)
        raise Invalid("a field report is one of: %(names)s", "category", "F8", names=names)
    return chosen


def end_of_day(moment: datetime, zone: ZoneInfo) -> datetime:
    """The last second of ``moment``'s day in ``zone``: a field report's deadline (F8)."""
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), time(23, 59, 59), tzinfo=zone)


# -- photos ------------------------------------------------------------------------------

#: A photo's largest size, and how many one case takes.
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS_PER_CASE = 5
#: The field report's request: the photos and the form around them.
FIELD_REPORT_MAX_BYTES = MAX_PHOTOS_PER_CASE * MAX_PHOTO_BYTES + 1024 * 1024

#: The image types taken, by their first bytes (the name and the browser's word are not trusted).
PHOTO_TYPES: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def sniff_photo_type(head: bytes) -> str | None:
    """The content type of an image from its first bytes: JPEG, PNG or WebP, else ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class PhotoUpload:
    """One photo as received: the name it came with and its bytes."""

    filename: str
    content: bytes


def check_photos(photos: Sequence[PhotoUpload], already: int = 0) -> list[str]:
    """The content type of each photo; raises :class:`Invalid` naming ``photos``.

    Refused: more than :data:`MAX_PHOTOS_PER_CASE` on one case (``already``
    counts those it has), an empty file, one over :data:`MAX_PHOTO_BYTES`, or
    one that is not a JPEG, PNG or WebP image. The message names the file.
    """
    if already + len(photos) > MAX_PHOTOS_PER_CASE:
        raise Invalid(
            "at most %(max_photos)d photos per case", "photos", "F8", max_photos=MAX_PHOTOS_PER_CASE
        )
    types = []
    for photo in photos:
        name = photo.filename or "photo"
        if not photo.content:
            raise Invalid("'%(filename)s' is empty", "photos", "F8", filename=name)
        if len(photo.content) > MAX_PHOTO_BYTES:
            limit = MAX_PHOTO_BYTES // (1024 * 1024)
            raise Invalid(
                "'%(filename)s' is larger than %(limit)d MB",
                "photos",
                "F8",
                filename=name,
                limit=limit,
            )
        kind = sniff_photo_type(photo.content[:16])
        if kind is None:
            raise Invalid(
                "'%(filename)s' is not a JPEG, PNG or WebP image", "photos", "F8", filename=name
            )
        types.append(kind)
    return types


# -- the meter well's on-site check (F10) ------------------------------------------------

#: F10: after a meter well is repaired, the area's meter reader checks it on site


__all__ = [
    "FIELD_CATEGORIES",
    "FIELD_REPORT_MAX_BYTES",
    "MAX_PHOTOS_PER_CASE",
    "MAX_PHOTO_BYTES",
    "PHOTO_TYPES",
    "SIDE_ACTIONS",
    "WORKER_STEPS",
    "WORK_ORDER",
    "CrewOffer",
    "PhotoUpload",
    "check_field_category",
    "check_photos",
    "crew_offer",
    "end_of_day",
    "sniff_photo_type",
]
