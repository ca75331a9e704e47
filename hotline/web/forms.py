"""Reading request input: each refusal is an ``Invalid`` naming the field.

Shared by every server-rendered page (hotline's and dispatch's), the JSON API
and the Twilio webhooks, so a bad number, time or text reads the same
everywhere (a command's form is loaded with the API's own schema,
``hotline.web.schemas``):

* whole numbers are ASCII digits within the range a database column holds
  (ids 1 to 2**31 - 1; ``²`` or ``٣`` are not digits here);
* text carries no NUL character and no unpaired surrogate (PostgreSQL refuses
  the first, no encoder writes the second);
* times fall between 2000 and 2099, so arithmetic on them never overflows.

:func:`init_app` registers the ``<id:...>`` URL converter (an id outside the
range matches no route: 404), the request size limit (setting
``max_request_bytes``: 413) and the text check on every page's query string
and form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from werkzeug.routing import IntegerConverter

from hotline.domain.errors import words
from hotline.services import Invalid, NotFound

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.routing import Map

#: The largest value of a PostgreSQL ``integer`` column: ids, versions, counts.
MAX_INT = 2**31 - 1
#: The highest page number a listing serves.
MAX_PAGE = 100_000
#: The first and last moments a date or time given as input may name.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)
#: Default request size limit (setting ``max_request_bytes``).
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024

#: Ranges of page-form numbers by field name, where the column range is too wide.
FIELD_RANGES: Mapping[str, tuple[int, int]] = {
    "hours": (0, 24 * 366),  # added to a time: at most a year
}

_DIGITS = re.compile(r"-?[0-9]{1,19}")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


# -- text ------------------------------------------------------------------------------


_NUL = "must not contain NUL characters"
_SURROGATE = "must not contain unpaired surrogate characters"


def _in_a_field_name(problem: str) -> str:
    return f"has a field name that {problem.replace('must', 'may')}"


#: The refusal of a field whose text cannot be stored, by its problem (:func:`bad_text`).
_TEXT_REFUSALS = {
    _NUL: words("'%(name)s' must not contain NUL characters"),
    _SURROGATE: words("'%(name)s' must not contain unpaired surrogate characters"),
    _in_a_field_name(_NUL): words(
        "'%(name)s' has a field name that may not contain NUL characters"
    ),
    _in_a_field_name(_SURROGATE): words(
        "'%(name)s' has a field name that may not contain unpaired surrogate characters"
    ),
}
#: The refusal of a form whose field name cannot be stored, by its problem.
_FIELD_NAME_REFUSALS = {
    _NUL: words("a field name may not contain NUL characters"),
    _SURROGATE: words("a field name may not contain unpaired surrogate characters"),
}


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return _NUL
    return _SURROGATE


def bad_text(data: Any, path: str = "") -> tuple[str, str] | None:
    """The first string in ``data`` (text, or lists and mappings of it, however deep)
    that cannot be stored: ``(field path, problem)``; ``None`` when all can."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where, problem
        elif isinstance(item, Mapping):
            children = []
            for key in item:
                if isinstance(key, str) and (problem := text_problem(key)):
                    return where or "body", _in_a_field_name(problem)
                children.append((f"{where}.{key}" if where else str(key), item[key]))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(
                reversed([(f"{where}.{i}" if where else str(i), v) for i, v in enumerate(item)])
            )
    return None


def check_text(data: Any, path: str = "") -> None:
    """Raise :class:`Invalid` naming the field whose text cannot be stored."""
    found = bad_text(data, path)
    if found:
        name, problem = found
        template = _TEXT_REFUSALS.get(problem)
        if template is None:
            raise Invalid("'%(name)s' %(problem)s", name, name=name, problem=problem)
        raise Invalid(template, name, name=name)


def check_fields(fields: Any) -> None:
    """Check every value of a form or query string (a ``MultiDict``)."""
    for name in fields:
        if problem := text_problem(name):
            raise Invalid(_FIELD_NAME_REFUSALS[problem], "form")
        for value in fields.getlist(name):
            check_text(value, name)


# -- numbers ---------------------------------------------------------------------------


def parse_int(raw: str, name: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """``raw`` (ASCII digits, an optional '-', blanks around) as a whole number in range."""
    text = raw.strip()
    if not _DIGITS.fullmatch(text):
        raise Invalid("'%(name)s' must be a whole number", name, name=name)
    value = int(text)
    if not minimum <= value <= maximum:
        raise Invalid(
            "'%(name)s' must be between %(minimum)s and %(maximum)s",
            name,
            name=name,
            minimum=minimum,
            maximum=maximum,
        )
    return value


def form_int(
    raw: str | None, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """``raw`` as a whole number, ``None`` when empty.

    The range is ``minimum``..``maximum`` when given, else the field's own
    (:data:`FIELD_RANGES`), else 0..:data:`MAX_INT`.
    """
    if raw is None or not raw.strip():
        return None
    low, high = FIELD_RANGES.get(name, (0, MAX_INT))
    return parse_int(
        raw,
        name,
        minimum=low if minimum is None else minimum,
        maximum=high if maximum is None else maximum,
    )


def required_int(raw: str | None, name: str) -> int:
    """``raw`` as a whole number that must be given."""
    value = form_int(raw, name)
    if value is None:
        raise Invalid("'%(name)s' is required", name, name=name)
    return value


def page_number(raw: str | None, name: str = "page") -> int:
    """A listing's page from the query string: 1 when absent, else 1..:data:`MAX_PAGE`."""
    if raw is None or not raw.strip():
        return 1
    return parse_int(raw, name, minimum=1, maximum=MAX_PAGE)


# -- choices and times -----------------------------------------------------------------


def form_enum(enum_cls: type, raw: str | None, name: str, *, optional: bool = False) -> Any:
    """``raw`` as a member of ``enum_cls``; ``None`` when empty and ``optional``."""
    if not raw:
        if optional:
            return None
        raise Invalid("'%(name)s' is required", name, name=name)
    try:
        return enum_cls(raw)
    except ValueError:
        raise Invalid("'%(raw)s' is not a valid %(name)s", name, raw=raw, name=name) from None


def check_moment(moment: datetime, name: str) -> datetime:
    """``moment`` (aware) if it lies between :data:`EARLIEST` and :data:`LATEST`."""
    if not EARLIEST <= moment <= LATEST:
        raise Invalid("'%(name)s' must lie between the years 2000 and 2099", name, name=name)
    return moment


def form_local_datetime(raw: str | None, name: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` value, read in ``zone`` unless it names its own."""
    text = (raw or "").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("'%(name)s' must be a date and time", name, name=name) from None
    if not 2000 <= moment.year <= 2099:
        raise Invalid("'%(name)s' must lie between the years 2000 and 2099", name, name=name)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


# -- wiring ----------------------------------------------------------------------------


class IdConverter(IntegerConverter):
    """``<id:name>``: a row id, ASCII digits from 1 to :data:`MAX_INT`.

    Anything else matches no route, so an id out of range answers 404.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_INT)


#: Paths whose input is checked by their own handlers after authentication.
_CHECKED_ELSEWHERE = ("/api/", "/twilio/")


def _check_page_input() -> None:
    """Refuse a page request whose path, query string or form has text that cannot be stored."""
    from flask import request

    if request.path.startswith(_CHECKED_ELSEWHERE):
        return
    if text_problem(request.path):
        raise NotFound("no such page")
    check_fields(request.args)
    if request.method == "POST" and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        check_fields(request.form)


def max_request_bytes(settings: Mapping[str, Any]) -> int:
    """The ``max_request_bytes`` setting, checked."""
    from hotline.settings import SettingsError

    value = settings.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise SettingsError("setting 'max_request_bytes': must be a whole number of 1024 or more")
    return value


def init_app(app: Flask) -> None:
    """Register the ``id`` URL converter, the request size limit and the page text check.

    Call before any blueprint is registered (routes use ``<id:...>``).
    """
    app.url_map.converters["id"] = IdConverter
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default: no limit
        app.config["MAX_CONTENT_LENGTH"] = max_request_bytes(app.config.get("HOTLINE", {}))
    app.before_request(_check_page_input)
