"""The REST API the billing system pushes customers through (用户资料同步).

``PUT /api/customers/<account_number>`` creates or replaces one customer;
``POST /api/customers/import`` takes a list of up to :data:`MAX_ROWS` rows,
with ``dry_run`` to see what would happen. Both are for API accounts of the
billing role (:attr:`hotline.domain.taxonomy.Role.BILLING`) and for
administrators: anyone else gets 403 before the body is read. Rows are checked
as a file's are (:mod:`hotline.domain.customer_rows`); the upsert is
:mod:`hotline.services.customers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from flask import abort
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from hotline.domain import privacy
from hotline.domain.customer_rows import CustomerRow
from hotline.services import Invalid
from hotline.services.customers import (
    IMPORT_ROLES,
    import_customers,
    upsert_customer,
)
from hotline.web.api_base import ApiBlueprint, InputSchema, refusal, request_actor, rules
from hotline.web.session import wiring

#: The most rows one ``POST /api/customers/import`` takes.
MAX_ROWS = 1000

bp = ApiBlueprint(
    "api_customers",
    __name__,
    url_prefix="/api",
    description="Customers pushed by the billing system (upsert by account number). "
    "营业收费系统同步用户资料。",
)


# -- input ----------------------------------------------------------------------------


class _Phones(fields.Field):
    """A list of numbers, or one text of numbers separated by ; , / or spaces."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected a list of phone numbers or one text"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise self.make_error("invalid")


class _Amount(fields.Field):
    """Yuan with at most 2 decimals, as a number or text (``"186.50"``)."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected an amount of yuan as a number or text"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        return value


class CustomerSchema(InputSchema):
    """One customer as the billing system has them."""

    class Meta:
        unknown = RAISE

    account_number = fields.String(
        metadata={"description": "户号; in a PUT, the path's (may be left out)"}
    )
    name = fields.String(required=True, metadata={"description": "户名, up to 100 characters"})
    address = fields.String(load_default="", metadata={"description": "地址"})
    phones = _Phones(
        load_default=list,
        metadata={
            "description": "电话: a list, or one text separated by ; , / or spaces; each a "
            "valid number (stored in E.164); the list replaces the customer's numbers",
            "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
        },
    )
    meter_number = fields.String(load_default="", metadata={"description": "水表号"})
    arrears = _Amount(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "欠费金额 in yuan, at most 2 decimals (0 when left out)",
            "oneOf": [{"type": "number"}, {"type": "string"}],
        },
    )
    arrears_since = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "欠费起始日期, e.g. 2026-10-01"},
    )
    area = fields.String(
        load_default="",
        metadata={
            "description": "片区: an area's code or name (config/areas.toml); left out, "
            "the first area whose keyword is in the address"
        },
    )


class ImportRowSchema(CustomerSchema):
    account_number = fields.String(required=True, metadata={"description": "户号"})


class ImportSchema(InputSchema):
    class Meta:
        unknown = RAISE

    rows = fields.List(
        fields.Nested(ImportRowSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_ROWS, error=f"send 1 to {MAX_ROWS} rows"),
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "check and count only; write nothing"}
    )


# -- output ---------------------------------------------------------------------------


class CustomerOutSchema(Schema):
    account_number = fields.String()
    name = fields.String()
    address = fields.String()
    phones = fields.List(fields.String(), metadata={"description": "E.164"})
    meter_number = fields.String()
    arrears_cents = fields.Integer()
    arrears_since = fields.Date(allow_none=True)
    area = fields.String(metadata={"description": "the area's code; empty: none"})


class UpsertOutSchema(Schema):
    outcome = fields.String(metadata={"description": "inserted, updated or unchanged"})
    customer = fields.Nested(CustomerOutSchema)


class RefusedRowSchema(Schema):
    row = fields.Integer(metadata={"description": "the row's position in `rows`, from 1"})
    field = fields.String()
    problem = fields.String()
    account_number = fields.String()


class ImportOutSchema(Schema):
    dry_run = fields.Boolean()
    rows = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    refused = fields.List(fields.Nested(RefusedRowSchema))


# -- the operations -------------------------------------------------------------------


def _importers_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 for a caller neither the billing system nor an administrator, before the body."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request_actor().role not in IMPORT_ROLES:
            abort(403, description="only the billing system's API accounts and administrators")
        return view(*args, **kwargs)

    return wrapper


def _customer(row: CustomerRow) -> dict[str, Any]:
    """The customer as the sender is shown it (W7): the billing system gets back what it
    sent; an administrator the name, address and phones masked."""
    sight = privacy.sight(request_actor().role, own_case=True)
    if sight is privacy.Sight.WHOLE:
        return {**row.__dict__, "phones": list(row.phones)}
    shown = privacy.personal(sight, name=row.name, address=row.address)
    return {
        **row.__dict__,
        "name": shown.name,
        "address": shown.address,
        "phones": [privacy.mask_phone(number) for number in row.phones],
    }


_ROW_RULES = (
    "Only API accounts of the billing role and administrators (else 403, before the body "
    "is read). A row is refused naming its field when the account is missing, too long or "
    "holds spaces or '/'; the name is missing; a phone is not a valid number (no phone is "
    "allowed); the amount is not yuan with at most 2 decimals or is negative; the date is "
    "not a date; the area is not one of config/areas.toml."
)


@bp.route("/customers/<account_number>")
class OneCustomer(MethodView):
    @_importers_only
    @bp.arguments(CustomerSchema)
    @bp.response(200, UpsertOutSchema)
    @refusal(bp, 403, "only the billing system's API accounts and administrators")
    @refusal(bp, 409, "another import inserted this account at the same moment; send again")
    @refusal(bp, 422, "a field is missing or wrong; `field` names it")
    @rules(_ROW_RULES)
    def put(self, body: dict[str, Any], account_number: str) -> Any:
        """Create or replace one customer by account number (upsert); the phones sent
        replace the customer's. Sending the same body again changes nothing
        (``outcome``: unchanged)."""
        given = body.pop("account_number", None)
        if given is not None and given.strip() != account_number:
            raise Invalid(
                "account_number: does not match the path's account '%(account_number)s'",
                "account_number",
                account_number=account_number,
            )
        outcome, row = upsert_customer(wiring(), account_number, body)
        return {"outcome": outcome, "customer": _customer(row)}


@bp.route("/customers/import")
class CustomerImport(MethodView):
    @_importers_only
    @bp.arguments(ImportSchema)
    @bp.response(200, ImportOutSchema)
    @refusal(bp, 403, "only the billing system's API accounts and administrators")
    @refusal(bp, 409, "another import inserted one of these accounts at the same moment")
    @refusal(bp, 422, f"not 1 to {MAX_ROWS} rows, or a row's field of the wrong type")
    @rules(
        _ROW_RULES
        + " Such rows are listed in `refused` (with their position, from 1) and the others "
        "are imported in one transaction; a second row with an account already sent is "
        "refused as a duplicate. 422 for a list of more than "
        f"{MAX_ROWS} rows or a field of the wrong type."
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Upsert up to 1000 customers by account number, or with ``dry_run`` count
        what would be inserted, updated and left unchanged and list what would be
        refused, writing nothing."""
        report = import_customers(
            wiring(),
            enumerate(body["rows"], start=1),
            dry_run=body["dry_run"],
            chunk_rows=MAX_ROWS,
        )
        return {
            "dry_run": report.dry_run,
            "rows": report.rows,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "refused": [
                {
                    "row": r.row,
                    "field": r.field,
                    "problem": r.problem,
                    "account_number": r.account_number,
                }
                for r in report.refused
            ],
        }


__all__ = ["MAX_ROWS", "CustomerSchema", "ImportSchema", "bp"]
