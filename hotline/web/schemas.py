"""One input schema per command, whether it comes as JSON or from a page form.

The API loads a command's JSON body with its schema here; the pages load their
form with the same schema through :func:`load_form`, so both accept the same
values, within the same ranges, and refuse bad input with the same messages
naming the same field (:func:`describe_errors`). A page form differs from a
JSON body only in how values are written: every value is text, an empty
field is a field not given, a checkbox left unticked is false, and a
``datetime-local`` time is read in the utility's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from hotline.domain.errors import words
from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import Category, Channel, FollowUpOutcome, Priority, TriageOutcome
from hotline.services import IntakeOutcome, Invalid
from hotline.web.api_base import Id, InputSchema, Moment
from hotline.web.forms import EARLIEST, LATEST, MAX_INT

_text = {"load_default": ""}


# -- the commands ----------------------------------------------------------------------


class IntakeSchema(InputSchema):
    """One contact, as the first responder records it (P4)."""

    class Meta:
        unknown = RAISE

    channel = fields.Enum(Channel, by_value=True, required=True)
    outcome = fields.Enum(IntakeOutcome, by_value=True, required=True)
    caller_number = fields.String(validate=validate.Length(max=40), **_text)
    caller_name = fields.String(validate=validate.Length(max=100), **_text)
    customer_account = fields.String(validate=validate.Length(max=32), **_text)
    category = fields.Enum(Category, by_value=True, load_default=None)
    priority = fields.Enum(Priority, by_value=True, load_default=Priority.NORMAL)
    problem = fields.String(validate=validate.Length(max=4000), **_text)
    need = fields.String(validate=validate.Length(max=4000), **_text)
    address = fields.String(validate=validate.Length(max=300), **_text)
    area = fields.String(
        validate=validate.Length(max=100),
        metadata={
            "description": "the service area (片区): a code of config/areas.toml (or its name); "
            "left out, the area the address lies in. Routes the case; its zone sets, with "
            "the grade, the on-site limit"
        },
        **_text,
    )
    grade = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.OneOf([1, 2, 3], error="must be 1, 2 or 3"),
        metadata={
            "description": "F12: severity grade (事件分级) 1, 2 or 3 of a graded category "
            "(a leak); with the area's zone it sets the on-site limit"
        },
    )
    contact_name = fields.String(validate=validate.Length(max=100), **_text)
    contact_phone = fields.String(validate=validate.Length(max=40), **_text)
    triage = fields.Enum(TriageOutcome, by_value=True, load_default=None)
    pipe_size_dn = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=15, max=3000),
        metadata={"description": "the pipe's nominal size in mm (DN15 to DN3000)"},
    )
    read_back_confirmed = fields.Boolean(load_default=False)
    answer = fields.String(validate=validate.Length(max=4000), **_text)
    target_department_id = Id(load_default=None, allow_none=True)
    told_caller = fields.String(validate=validate.Length(max=4000), **_text)
    join_case_number = fields.String(validate=validate.Length(max=32), **_text)
    repeats_case_number = fields.String(
        validate=validate.Length(max=32),
        metadata={"description": "a new report about a closed or answered case: that case"},
        **_text,
    )
    summary = fields.String(validate=validate.Length(max=4000), **_text)


class ActionSchema(InputSchema):
    """One action on a case; ``version`` is the version you last saw."""

    class Meta:
        unknown = RAISE

    action = fields.Enum(Action, by_value=True, required=True)
    version = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_INT)
    )
    reason = fields.String(validate=validate.Length(max=2000), **_text)
    department_id = Id(load_default=None)
    staff_id = Id(load_default=None)
    target_department_id = Id(load_default=None)
    told_caller = fields.String(validate=validate.Length(max=4000), **_text)
    answer = fields.String(validate=validate.Length(max=4000), **_text)
    result_note = fields.String(validate=validate.Length(max=4000), **_text)
    customer_rating = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    no_rating_reason = fields.String(validate=validate.Length(max=500), **_text)
    extra_working_days = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=1, max=MAX_INT)
    )
    outcome = fields.Enum(FollowUpOutcome, by_value=True, load_default=None)
    attitude = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    quality = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    timeliness = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    result = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    note = fields.String(validate=validate.Length(max=4000), **_text)
    parent_case_number = fields.String(validate=validate.Length(max=32), **_text)


def action_parts(body: Mapping[str, Any]) -> tuple[Action, int, str, dict[str, Any]]:
    """A loaded :class:`ActionSchema` body as ``(action, version, reason, data)``."""
    data = dict(body)
    return data.pop("action"), data.pop("version"), data.pop("reason", ""), data


class BookingSchema(InputSchema):
    """F1: a visit agreed with the customer."""

    class Meta:
        unknown = RAISE

    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    requested_by_customer = fields.Boolean(
        required=True,
        metadata={"description": "the customer chose the time: the clocks pause until it"},
    )
    note = fields.String(validate=validate.Length(max=2000), load_default="")


class RescheduleSchema(InputSchema):
    class Meta:
        unknown = RAISE

    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    requested_by_customer = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class NoShowSchema(InputSchema):
    class Meta:
        unknown = RAISE

    told_customer = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CancelSchema(InputSchema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ShutOffSchema(InputSchema):
    """F12: the water is shut off; the pipe size seen on site picks the repair limit."""

    class Meta:
        unknown = RAISE

    pipe_size_dn = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=15, max=3000)
    )
    note = fields.String(validate=validate.Length(max=2000), load_default="")


# -- refusals ----------------------------------------------------------------------------


#: The validation messages the schemas give (marshmallow's own and this product's),
#: marked for the refusals catalogue so a page can say them in its language.
VALIDATION_WORDS = (
    words("Missing data for required field."),
    words("Field may not be null."),
    words("Unknown field."),
    words("Invalid type."),
    words("Invalid value."),
    words("Invalid input type."),
    words("Not a valid string."),
    words("Not a valid integer."),
    words("Not a valid number."),
    words("Not a valid boolean."),
    words("Not a valid date."),
    words("Not a valid datetime."),
    words("Not a valid list."),
    words("Not a valid mapping type."),
    words("Not a valid URL."),
    words("Not a valid email address."),
    words("Number too large."),
    words("Special numeric values (nan or infinity) are not permitted."),
    words("must lie between the years 2000 and 2099"),
    words("must be 1, 2 or 3"),
)


def _as_is(text: str) -> str:
    return text


def describe_errors(messages: Any, path: str = "", say: Callable[[str], str] = _as_is) -> str:
    """Validation messages as one line naming each field: ``json.category: ...``.

    ``say`` gives each message's words (as written, or in a page's language).
    """
    if isinstance(messages, dict):
        parts = [
            describe_errors(value, f"{path}.{key}" if path else str(key), say)
            for key, value in messages.items()
        ]
        return "; ".join(part for part in parts if part)
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        text = " ".join(say(m) for m in messages)
        return f"{path}: {text}" if path else text
    if isinstance(messages, list):
        return "; ".join(describe_errors(m, path, say) for m in messages)
    return f"{path}: {say(str(messages))}" if path else say(str(messages))


class Problems(str):
    """Validation messages as one English line (:func:`describe_errors`) that keeps
    them by field, so the place that shows them can say each in its language."""

    messages: Any

    def __new__(cls, messages: Any) -> Problems:
        line = super().__new__(cls, describe_errors(messages))
        line.messages = messages
        return line

    def said(self, say: Callable[[str], str]) -> str:
        """The same line with each message given by ``say``."""
        return describe_errors(self.messages, say=say)


def first_field(messages: Any) -> str | None:
    """The field validation messages by location name first (``{"json": {"category": ...}}``)."""
    if isinstance(messages, dict):
        for location in messages.values():
            if isinstance(location, dict):
                for name in location:
                    if name != "_schema":
                        return str(name)
    return None


def refusal_of(error: ValidationError, location: str) -> Invalid:
    """A schema's refusal of input from ``location`` (json, query, form), as the API words it."""
    messages = {location: error.normalized_messages()}
    return Invalid(
        "invalid input: %(problems)s", first_field(messages), problems=Problems(messages)
    )


# -- page forms --------------------------------------------------------------------------

_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")


def local_moment(raw: str | None, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` value read in ``zone`` unless it names its own; None if unreadable."""
    try:
        moment = datetime.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def form_values(schema: Schema, form: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The fields ``schema`` loads, read from a page form as a JSON body would carry them.

    Text the form cannot turn into the field's type is passed on as it is, for
    the schema to refuse naming the field. Fields the schema does not declare
    (the CSRF token, the form's own helpers) are left out.
    """
    data: dict[str, Any] = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        if isinstance(field, fields.Boolean):
            raw = form.get(key)
            data[key] = False if raw is None or raw == "" else raw
            continue
        raw = form.get(key)
        if raw is None or (not raw.strip() and not isinstance(field, fields.String)):
            continue  # an empty field is a field not given
        value: Any = raw
        if isinstance(field, fields.Integer) and _WHOLE_NUMBER.fullmatch(raw.strip()):
            value = int(raw.strip())
        elif isinstance(field, fields.DateTime):
            moment = local_moment(raw, zone)
            value = moment.isoformat() if moment is not None else raw
        data[key] = value
    return data


def load_form(
    schema: Schema,
    form: Any,
    zone: ZoneInfo,
    *,
    extra: Mapping[str, Any] | None = None,
    partial: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Load a page form with ``schema``; :class:`Invalid` naming the field when refused.

    ``extra`` adds values the form gives in its own way (a visit's end from
    its length); ``partial`` names fields that may be missing this once.
    """
    data = form_values(schema, form, zone) | dict(extra or {})
    try:
        return schema.load(data, partial=partial or None)
    except ValidationError as error:
        raise refusal_of(error, "form") from None


def window_form(schema: Schema, form: Any, zone: ZoneInfo, hours: int) -> dict[str, Any]:
    """A form giving a start and a length in hours, loaded with a schema taking
    ``starts_at`` and ``ends_at`` (a visit, a shift)."""
    starts_at = local_moment(form.get("starts_at"), zone)
    if starts_at is None or not EARLIEST <= starts_at <= LATEST:
        # Refused naming the start: the end follows from it.
        body = load_form(schema, form, zone, partial=("ends_at",))
        if "ends_at" not in body:
            raise Invalid("'starts_at' must be a date and time", "starts_at")
        return body
    ends_at = (starts_at + timedelta(hours=hours)).isoformat()
    return load_form(schema, form, zone, extra={"ends_at": ends_at})
