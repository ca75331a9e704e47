"""Strict marshmallow schemas for the product's own TOML files.

Owns what the time-limit policy, the call scripts and the settings share: a
table that refuses any key it does not declare, naming it; fields that take
TOML's values as they are (no ``"5"`` for ``5``, no ``1`` for ``true``); and
:func:`first_error`, which reduces marshmallow's tree of errors to the key path
and message of its first fault, for a one-line message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, pre_load

#: Where marshmallow files a fault of a table as a whole; it adds nothing to a path.
TABLE_ITSELF = "_schema"


class StrictTable(Schema):
    """A TOML table of the declared keys only.

    A value that is not a table, an undeclared key and a missing required key
    are refused with the class's :attr:`not_a_table`, :attr:`unknown_key` and
    :attr:`missing_key` wording. ``unknown_key`` may use ``{unknown}`` (every
    undeclared key) and ``{allowed}`` (the declared ones); the fault is filed
    under the first undeclared key.
    """

    not_a_table: ClassVar[str] = "expected a table, got {value!r}"
    unknown_key: ClassVar[str] = "unknown key; expected one of {allowed}"
    missing_key: ClassVar[str] = "missing"

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        messages = field_obj.error_messages
        if messages.get("required") == fields.Field.default_error_messages["required"]:
            field_obj.error_messages = {**messages, "required": self.missing_key}

    @pre_load
    def _declared_keys_only(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(self.not_a_table.format(value=data))
        allowed = sorted(field.data_key or name for name, field in self.load_fields.items())
        unknown = [key for key in data if key not in allowed]
        if unknown:
            message = self.unknown_key.format(
                unknown=", ".join(sorted(map(str, unknown))), allowed=", ".join(allowed)
            )
            raise ValidationError({unknown[0]: [message]})
        return data


class Whole(fields.Field):
    """A whole number of at least ``minimum`` (``true`` is not one)."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected a whole number of at least {minimum}, got {input!r}"
    }

    def __init__(self, *, minimum: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
            raise self.make_error("invalid", input=value, minimum=self.minimum)
        return value


class Number(fields.Field):
    """A whole or decimal number (``true`` is not one)."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected a number, got {input!r}"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return value


class Flag(fields.Field):
    """``true`` or ``false`` and nothing else."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Member(fields.Field):
    """One value of an enumeration (the member is loaded) or of a tuple of names.

    ``what`` names the kind of value in the message, e.g. "unknown stage 'repiar';
    expected one of ...".
    """

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "unknown {what} {input!r}; expected one of {choices}"
    }

    def __init__(self, choices: type[Enum] | tuple[str, ...], what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices
        self.what = what

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(self.choices, tuple):
            if value in self.choices:
                return value
        else:
            try:
                return self.choices(value)
            except ValueError:
                pass
        names = self.choices if isinstance(self.choices, tuple) else [m.value for m in self.choices]
        raise self.make_error("invalid", input=value, what=self.what, choices=", ".join(names))


class Items(fields.List):
    """A TOML array whose items are each read by the inner field."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "expected a list, got {input!r}"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class Table(fields.Dict):
    """A TOML table with validated keys and values; a fault is filed under its own key."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected a table, got {input!r}"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid", input=value)
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            # marshmallow files a fault under {"key": ...} or {"value": ...}.
            by_key = {
                key: found["key"] if "key" in found else found["value"]
                for key, found in error.messages.items()
            }
            raise ValidationError(by_key) from None


def first_error(messages: Any) -> tuple[tuple[str | int, ...], str]:
    """The key path and message of the first fault in a marshmallow error tree.

    Keys of tables are strings, positions in arrays whole numbers; a fault of a
    table as a whole ends the path at the table.
    """
    path: list[str | int] = []
    node = messages
    while isinstance(node, Mapping | list):
        if isinstance(node, list):
            node = node[0]
            continue
        key, node = next(iter(node.items()))
        if key != TABLE_ITSELF:
            path.append(key)
    return tuple(path), str(node)


def read_toml(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict; ``error`` naming the file when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: {exc}") from None


__all__ = [
    "TABLE_ITSELF",
    "Flag",
    "Items",
    "Member",
    "Number",
    "StrictTable",
    "Table",
    "Whole",
    "first_error",
    "read_toml",
]
