"""The shape of the settings (``config/hotline.toml`` and ``HOTLINE_*`` variables).

The settings file names every setting there is, and its value gives the type:
a ``HOTLINE_<KEY>`` variable overriding a true/false or a whole-number setting
must read as one. Overrides passed in by a program may only name settings of
the file, and the settings every process needs must be non-empty texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, fields
from marshmallow.validate import Length, Regexp


class EnvironmentFlag(fields.Field):
    """True or false written as text: ``1/true/yes/on`` or ``0/false/no/off``, any case."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected true or false, got {input!r}"
    }
    truthy = frozenset({"1", "true", "yes", "on"})
    falsy = frozenset({"0", "false", "no", "off"})

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value.lower() in self.truthy:
            return True
        if value.lower() in self.falsy:
            return False
        raise self.make_error("invalid", input=value)


class EnvironmentWhole(fields.Field):
    """A whole number written as text."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "expected a whole number, got {input!r}"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            return int(value)
        except ValueError:
            raise self.make_error("invalid", input=value) from None


def environment_variable(key: str) -> str:
    """The variable that overrides setting ``key``: ``HOTLINE_<KEY>``."""
    return f"HOTLINE_{key.upper()}"


def environment_schema(defaults: Mapping[str, Any]) -> Schema:
    """Reads the ``HOTLINE_*`` variables of an environment into settings,
    typed like the file's values (text for anything but true/false and whole numbers)."""

    def field_for(key: str, default: Any) -> fields.Field:
        if isinstance(default, bool):
            return EnvironmentFlag(data_key=environment_variable(key))
        if isinstance(default, int):
            return EnvironmentWhole(data_key=environment_variable(key))
        return fields.Raw(data_key=environment_variable(key))

    declared = {key: field_for(key, default) for key, default in defaults.items()}
    return Schema.from_dict(declared, name="Environment")(unknown=EXCLUDE)


def overrides_schema(defaults: Mapping[str, Any]) -> Schema:
    """Accepts overrides of the file's settings only (any value)."""
    declared = {key: fields.Raw(allow_none=True) for key in defaults}
    return Schema.from_dict(declared, name="Overrides")()


_NON_EMPTY_TEXT = "must be a non-empty text"


def _text() -> fields.String:
    return fields.String(
        required=True,
        validate=Length(min=1, error=_NON_EMPTY_TEXT),
        error_messages={key: _NON_EMPTY_TEXT for key in ("required", "null", "invalid")},
    )


class RequiredSettings(Schema):
    """The settings every process needs; the others are checked where they are used."""

    class Meta:
        unknown = EXCLUDE

    database_url = _text()
    company_name = _text()
    case_prefix = _text()
    timezone = _text()


class MapSettings(Schema):
    """The area map's tile server: empty, or an http(s) address with {z}, {x} and {y}."""

    class Meta:
        unknown = EXCLUDE

    map_tile_url = fields.String(
        load_default="",
        validate=Regexp(
            r"^$|^https?://[^/\s]+/\S*(?=\S*\{z\})(?=\S*\{x\})(?=\S*\{y\})\S*$",
            error="expected empty or an http(s) address with {{z}}, {{x}} and {{y}}",
        ),
    )


__all__ = [
    "MapSettings",
    "RequiredSettings",
    "environment_schema",
    "environment_variable",
    "overrides_schema",
]
