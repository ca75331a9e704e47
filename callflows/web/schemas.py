"""The console API's request and response bodies (marshmallow, shown in ``/api/openapi.json``).

Request bodies are JSON objects (anything else answers 400); keys a body
does not know are left aside. Numbers may come as their digits in text and an
empty text means none, as an HTML form sends them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import abort
from marshmallow import (
    EXCLUDE,
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
)

from callflows.domain.live import OPERATIONS
from hotline.domain.taxonomy import Category, Priority, TriageOutcome
from hotline.services import IntakeOutcome
from hotline.web.api_base import InputSchema
from hotline.web.forms import MAX_INT

_MAX_TEXT = 4000


class _Object(InputSchema):
    """A console request body: a JSON object (anything else answers 400); keys it
    does not know are left aside."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _an_object(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            abort(400, description="the request body must be a JSON object")
        return data


class _RangeUnlessEmpty(validate.Range):
    """A range check that lets ``None`` (an empty field) through."""

    def __call__(self, value: Any) -> Any:
        return value if value is None else super().__call__(value)


class Whole(fields.Integer):
    """A whole number, or its ASCII digits as text (as a form sends it); empty means none."""

    def __init__(self, *, minimum: int = 1, maximum: int = MAX_INT, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault(
            "description", "a whole number, or its digits as text; empty for none"
        )
        super().__init__(
            load_default=None,
            allow_none=True,
            validate=_RangeUnlessEmpty(min=minimum, max=maximum),
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("must be a whole number")
        if isinstance(value, str):
            if not re.fullmatch(r"\s*-?[0-9]{1,19}\s*", value):
                raise ValidationError("must be a whole number")
            value = int(value)
        return value


class Choice(fields.Enum):
    """One of an enum's values; empty (or null) means none chosen."""

    def __init__(self, enum: type, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
        super().__init__(enum, by_value=True, allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return None if value == "" else super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """true or false, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def _text(limit: int = _MAX_TEXT, **kwargs: Any) -> fields.String:
    """Text of at most ``limit`` characters; null reads as empty."""
    return fields.String(
        load_default="", allow_none=True, validate=validate.Length(max=limit), **kwargs
    )


class ScriptOpSchema(_Object):
    """One operation; ``op`` names it, the other keys are its arguments (all text)."""

    class Meta:
        unknown = INCLUDE

    op = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"enum": [name for name in OPERATIONS if name != "end"]},
    )
    field = fields.String(validate=validate.Length(max=_MAX_TEXT))
    value = fields.String(validate=validate.Length(max=_MAX_TEXT))
    answer = fields.String(validate=validate.Length(max=_MAX_TEXT))
    step = fields.String(validate=validate.Length(max=_MAX_TEXT))

    @post_load
    def _text_arguments(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name, value in data.items():
            if not isinstance(value, str) or len(value) > _MAX_TEXT:
                raise ValidationError(
                    f"'{name}' must be text of at most {_MAX_TEXT} characters", name
                )
        return data


class CustomerChoiceSchema(_Object):
    account_number = _text(32, metadata={"description": "the customer's account number"})


class CustomerSearchArgs(InputSchema):
    q = fields.String(load_default="", validate=validate.Length(max=100))


class SubmitSchema(_Object):
    """What the operator submits at the end of the script (the rest was captured)."""

    outcome = Choice(IntakeOutcome, required=True)
    category = Choice(Category)
    priority = Choice(Priority)
    triage = Choice(TriageOutcome)
    pipe_size_dn = Whole(minimum=15, maximum=3000)
    grade = Whole(
        minimum=1,
        maximum=3,
        metadata={"description": "F12: severity grade 1, 2 or 3 of a leak; empty for none"},
    )
    area = _text(100)
    customer_account = _text(32)
    answer = _text()
    target_department_id = Whole()
    told_caller = _text()
    join_case_number = _text(32)
    summary = _text()
    article_id = Whole(
        metadata={"description": "G3: the knowledge-base article the answer on the call gave"}
    )
    ask_answerer_id = Whole(
        metadata={"description": "W10: the superior asked when nobody could answer on the call"}
    )
    question = _text(2000)


class CallBackSchema(_Object):
    confirm_uncertain = StrictBoolean(
        load_default=False,
        metadata={"description": "call again after an attempt whose outcome is uncertain"},
    )


class CallBackOutcomeSchema(_Object):
    reached = StrictBoolean(
        required=True,
        metadata={"description": "whether the last call-back reached the caller"},
    )


class ComplianceCheckSchema(_Object):
    text = _text(20000)


class IncomingSchema(Schema):
    waiting = fields.List(fields.Dict(), metadata={"description": "calls ringing now"})
    missed = fields.List(fields.Dict(), metadata={"description": "calls to call back"})


class AnsweredSchema(Schema):
    call_id = fields.Integer()
    url = fields.String(metadata={"description": "the live-call page"})


class CallViewSchema(Schema):
    """Everything the live-call page shows."""

    call = fields.Dict()
    caller = fields.Dict()
    script = fields.Dict(allow_none=True)
    similar_cases = fields.List(fields.Dict())
    case = fields.Dict(allow_none=True)
    flags = fields.List(fields.Dict())
    attempts = fields.List(fields.Dict())
    result = fields.Dict(metadata={"description": "after a submission: its case and promise"})


class CustomerFoundSchema(Schema):
    account_number = fields.String()
    name = fields.String()
    address = fields.String()


class CustomersSchema(Schema):
    customers = fields.List(fields.Nested(CustomerFoundSchema))


class AttemptResultSchema(Schema):
    attempt = fields.Dict(metadata={"description": "id, kind, status, provider_sid, error"})


class ComplianceFlagSchema(Schema):
    phrase = fields.String()
    matched = fields.String()
    start = fields.Integer()
    end = fields.Integer()
    rule = fields.String()
    excerpt = fields.String()


class ComplianceFlagsSchema(Schema):
    flags = fields.List(fields.Nested(ComplianceFlagSchema))
