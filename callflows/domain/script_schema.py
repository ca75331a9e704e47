"""The shape of a call script file (``callflows/scripts/*.toml``).

One schema per table: ``[script]``, ``[[prompts]]``, ``[[steps]]`` and
``[[steps.branches]]``. Types, defaults and the keys each table allows are
declared on the fields; the validators keep what relates values to each other
(English placeholders found in the Chinese wording, an answer among its
field's values, a step that either ends or goes on, ids that are unique and a
start step that exists). After loading, a short check of the step graph
refuses unknown targets, unreachable steps and steps that never reach the end.
:func:`build_script` reports the first fault as a :class:`ScriptError` naming
the file, the step (or prompt) and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from marshmallow import ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Length, Regexp

from callflows.domain.scripts import (
    CONFIG_NAMES,
    FIELDS,
    PLACEHOLDER,
    PROMPT_IDS,
    Branch,
    Prompt,
    Script,
    ScriptError,
    Step,
    StepKind,
)
from hotline.domain.strict_schema import Flag, Items, Member, StrictTable, first_error

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE = re.compile(r"^[A-Z]+[0-9]+$")
_NON_EMPTY = "must be a non-empty string"
_NEEDS_STEPS = "a script needs at least one [[steps]] entry"

# -- values -------------------------------------------------------------------------


def _captures(template: str) -> frozenset[str]:
    """The capture fields a wording shows (the utility's names are not fields)."""
    return frozenset(name for name in PLACEHOLDER.findall(template) if name not in CONFIG_NAMES)


def _value_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for capture field ``name``, if anything."""
    if not isinstance(value, str) or not value.strip():
        return f"value for '{name}' must be a non-empty string"
    choices = FIELDS[name].choices
    if choices and value not in choices:
        return f"'{value}' is not a value of '{name}'; expected one of {', '.join(choices)}"
    return None


class Wording(fields.Field):
    """Words to say: non-empty text whose ``{placeholders}`` are the utility's
    names or capture fields. Loaded as written; the names are filled later."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "required": "missing; the wording is required",
        "invalid": _NON_EMPTY,
        "brace": "has a brace that is not a {{placeholder}}",
        "placeholder": "unknown placeholder '{{{name}}}'; use one of {names} or a capture field",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.make_error("invalid")
        stray = PLACEHOLDER.sub("", value)
        if "{" in stray or "}" in stray:
            raise self.make_error("brace")
        for name in PLACEHOLDER.findall(value):
            if name not in CONFIG_NAMES and name not in FIELDS:
                raise self.make_error("placeholder", name=name, names=", ".join(CONFIG_NAMES))
        return value


class FieldName(fields.Field):
    """The name of a capture field (:data:`FIELDS`)."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "must be a field name",
        "unknown": "unknown capture field '{input}'; known fields: {known}",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if value not in FIELDS:
            raise self.make_error("unknown", input=value, known=", ".join(sorted(FIELDS)))
        return value


class FieldValues(fields.Field):
    """A table of capture field = value, e.g. ``{ category = "complaint" }``."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "must be a table of field = value"
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        for name, field_value in value.items():
            FieldName().deserialize(name)
            problem = _value_problem(name, field_value)
            if problem:
                raise ValidationError(problem)
        return tuple(value.items())


def _distinct(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValidationError("lists a name twice")


def _names() -> Items:
    listed = "must be a list of strings"
    return Items(
        FieldName(error_messages={"invalid": listed}),
        load_default=list,
        validate=_distinct,
        error_messages={"invalid": listed},
    )


def _text(message: str) -> fields.String:
    """Text that must be given and not blank; ``message`` says so."""
    return fields.String(
        required=True,
        validate=Regexp(r"\s*\S", error=message),
        error_messages={"required": message, "invalid": message},
    )


def _identifier(message: str) -> fields.String:
    return fields.String(
        required=True,
        validate=Regexp(_ID, error=message),
        error_messages={"required": message, "invalid": message, "null": message},
    )


def _rule(message: str = "must be a rule id such as 'P3'", **kwargs: Any) -> fields.String:
    return fields.String(
        validate=Regexp(_RULE, error=message), error_messages={"invalid": message}, **kwargs
    )


def _step_id() -> fields.String:
    return fields.String(load_default=None, error_messages={"invalid": "must be a step id"})


def _note() -> fields.String:
    return fields.String(load_default="", error_messages={"invalid": _NON_EMPTY})


# -- tables -------------------------------------------------------------------------


class _ScriptTable(StrictTable):
    not_a_table = "expected a table"
    unknown_key = "unknown key(s) {unknown}; allowed: {allowed}"


class BranchSchema(_ScriptTable):
    """``[[steps.branches]]``: one answer at a branching step and where it leads."""

    answer = _identifier("each branch needs an 'answer' id (lower case, digits, underscores)")
    zh = _text("needs a zh label")
    en = _text("needs an en label")
    next = _step_id()
    sets = FieldValues(load_default=tuple)

    @post_load
    def _branch(self, data: dict[str, Any], **kwargs: Any) -> Branch:
        return Branch(**data)


class PromptSchema(_ScriptTable):
    """``[[prompts]]``: words available at any step."""

    not_a_table = "each [[prompts]] entry must be a table"

    id = Member(
        PROMPT_IDS,
        "prompt id",
        required=True,
        error_messages={"required": f"missing; expected one of {', '.join(PROMPT_IDS)}"},
    )
    zh = Wording(required=True)
    en = Wording(required=True)
    rule = _rule(load_default=None)
    verbatim = Flag(load_default=False)
    note_zh = _note()
    note_en = _note()

    @validates_schema
    def _no_capture_fields(self, data: dict[str, Any], **kwargs: Any) -> None:
        if _captures(data["zh"]) or _captures(data["en"]):
            raise ValidationError("prompts may not use capture fields", "zh")

    @post_load
    def _prompt(self, data: dict[str, Any], **kwargs: Any) -> Prompt:
        return Prompt(**data)


class StepSchema(_ScriptTable):
    """``[[steps]]``: one step of the script."""

    not_a_table = "must be a table"

    id = _identifier("needs an 'id' (lower case, digits, underscores)")
    kind = Member(StepKind, "kind", load_default=StepKind.SAY)
    zh = Wording(required=True)
    en = Wording(required=True)
    required = Flag(required=True, error_messages={"required": "missing; say true or false"})
    captures = _names()
    optional_captures = _names()
    answer_field = FieldName(load_default=None)
    branches = Items(
        fields.Nested(BranchSchema),
        load_default=list,
        error_messages={"invalid": "must be an array of tables"},
    )
    next = _step_id()
    end = Flag(load_default=False)
    rule = _rule(load_default=None)
    verbatim = Flag(load_default=False)
    note_zh = _note()
    note_en = _note()

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        extra = _captures(data["en"]) - _captures(data["zh"])
        if extra:
            raise ValidationError(
                f"English wording uses {', '.join(sorted(extra))}, which the Chinese wording does not",
                "en",
            )
        both = set(data["captures"]) & set(data["optional_captures"])
        if both:
            raise ValidationError(
                f"{', '.join(sorted(both))} listed as both required and optional",
                "optional_captures",
            )
        branches: list[Branch] = data["branches"]
        for index, branch in enumerate(branches):
            problem = data["answer_field"] and _value_problem(data["answer_field"], branch.answer)
            if problem:
                raise ValidationError({"branches": {index: {"answer": [problem]}}})
        answers = [branch.answer for branch in branches]
        duplicates = sorted({answer for answer in answers if answers.count(answer) > 1})
        if duplicates:
            problem = f"answer(s) {', '.join(duplicates)} appear twice"
            raise ValidationError({"branches": {"answer": [problem]}})
        if data["answer_field"] is not None and not branches:
            raise ValidationError("names an answer field but offers no answers", "answer_field")
        if len(branches) == 1:
            raise ValidationError("a branching step needs at least two answers", "branches")
        target, ends = data["next"], data["end"]
        if ends and target is not None:
            raise ValidationError("a step cannot both end the script and have a next step", "end")
        open_branch = any(branch.next is None for branch in branches)
        if target is None and not ends and (not branches or open_branch or not data["required"]):
            why = (
                "a branch names no next step"
                if branches and open_branch
                else "an optional step can be skipped"
                if branches
                else "the step does not branch"
            )
            raise ValidationError(f"needs 'next' or 'end = true' ({why})", "next")

    @post_load
    def _step(self, data: dict[str, Any], **kwargs: Any) -> Step:
        del data["end"]  # a step without a next step ends the script
        lists = ("captures", "optional_captures", "branches")
        return Step(
            **data | {key: tuple(data[key]) for key in lists},
            placeholders=_captures(data["zh"]),
        )


class HeadSchema(_ScriptTable):
    """``[script]``: the script's names, the rules it serves and its start step."""

    name_zh = _text(_NON_EMPTY)
    name_en = _text(_NON_EMPTY)
    rules = Items(
        _rule("must be a list of rule ids such as 'P3'"),
        load_default=list,
        error_messages={"invalid": "must be a list of rule ids such as 'P3'"},
    )
    start = _step_id()


class ScriptSchema(_ScriptTable):
    """The whole file."""

    script = fields.Nested(
        HeadSchema,
        required=True,
        error_messages={"required": "missing; a script starts with a [script] table"},
    )
    prompts = Items(
        fields.Nested(PromptSchema),
        load_default=list,
        error_messages={"invalid": "must be an array of tables ([[prompts]])"},
    )
    steps = Items(
        fields.Nested(StepSchema),
        required=True,
        validate=Length(min=1, error=_NEEDS_STEPS),
        error_messages={"required": _NEEDS_STEPS, "invalid": _NEEDS_STEPS},
    )

    @validates_schema
    def _ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        for table in ("prompts", "steps"):
            seen: set[str] = set()
            for index, entry in enumerate(data[table]):
                if entry.id in seen:
                    duplicate = f"duplicate {table[:-1]} id"
                    raise ValidationError({table: {index: {"id": [duplicate]}}})
                seen.add(entry.id)
        start = data["script"]["start"]
        if start is not None and start not in {step.id for step in data["steps"]}:
            problem = f"start step '{start}' does not exist"
            raise ValidationError({"script": {"start": [problem]}})


# -- the step graph -------------------------------------------------------------------


def _reach(script: Script, origin: str) -> set[str | None]:
    """Step ids reachable from ``origin`` (itself included); ``None`` is the end."""
    seen: set[str | None] = {origin}
    stack: list[str] = [origin]
    while stack:
        for target in script.successors(stack.pop()):
            if target not in seen:
                seen.add(target)
                if target is not None:
                    stack.append(target)
    return seen


def _check_graph(script: Script) -> None:
    """Every target exists, every step is reachable and every step can reach the end."""

    def fail(step: Step, key: str, detail: str) -> ScriptError:
        return ScriptError(script.path, detail, step_id=step.id, key=key)

    for step in script.steps:
        if step.next is not None and step.next not in script.step_ids:
            raise fail(step, "next", f"unknown next step '{step.next}'")
        for branch in step.branches:
            if branch.next is not None and branch.next not in script.step_ids:
                detail = f"answer '{branch.answer}' leads to unknown step '{branch.next}'"
                raise fail(step, "branches.next", detail)
    reachable = _reach(script, script.start)
    for step in script.steps:
        if step.id not in reachable:
            what = "required step" if step.required else "step"
            raise fail(step, "id", f"{what} is unreachable from the start step '{script.start}'")
    for step in script.steps:
        if None not in _reach(script, step.id):
            detail = "every path from this step loops forever; no path reaches the end"
            raise fail(step, "next", detail)


# -- building -------------------------------------------------------------------------


def _located(path: Path, raw: Mapping[str, Any], error: ValidationError) -> ScriptError:
    """The first fault of ``error`` as a :class:`ScriptError` naming step or prompt and key.

    Positions in arrays are left out of the key ("branches.answer"); a step
    without a usable id is named by its position among the ``[[steps]]``, an
    answer's fault by the answer.
    """
    where, detail = first_error(error.messages)
    keys = list(where)
    step_id = prompt_id = None
    if len(keys) > 1 and keys[0] in ("steps", "prompts") and isinstance(keys[1], int):
        entry = raw[keys[0]][keys[1]]
        entry = entry if isinstance(entry, Mapping) else {}
        label = entry.get("id") if isinstance(entry.get("id"), str) else None
        inner = keys[2:]
        if keys[0] == "prompts":
            prompt_id = label
        else:
            step_id = label
            if label is None or not _ID.match(label):
                detail = f"[[steps]] entry {keys[1] + 1}: {detail}"
        if inner[:1] == ["branches"] and len(inner) > 2 and inner[2] != "answer":
            branch = entry["branches"][inner[1]]
            if isinstance(branch, Mapping) and isinstance(branch.get("answer"), str):
                detail = f"answer '{branch['answer']}': {detail}"
        keys = inner or [keys[0]]
    key = ".".join(k for k in keys if isinstance(k, str)) or None
    return ScriptError(path, detail, step_id=step_id, prompt_id=prompt_id, key=key)


def build_script(raw: Mapping[str, Any], path: Path, names: Mapping[str, str]) -> Script:
    """The script in the parsed file ``raw`` read from ``path``, with the
    utility's ``names`` filled into its wording.

    Raises :class:`ScriptError` naming the file, step (or prompt) and key.
    """
    try:
        loaded = ScriptSchema().load(raw)
    except ValidationError as error:
        raise _located(path, raw, error) from None

    def fill(template: str) -> str:
        return PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(0)), template)

    head = loaded["script"]
    steps = tuple(replace(s, zh=fill(s.zh), en=fill(s.en)) for s in loaded["steps"])
    script = Script(
        id=path.stem,
        name_zh=head["name_zh"],
        name_en=head["name_en"],
        path=path,
        start=head["start"] if head["start"] is not None else steps[0].id,
        steps=steps,
        prompts=tuple(replace(p, zh=fill(p.zh), en=fill(p.en)) for p in loaded["prompts"]),
        rules=tuple(head["rules"]),
    )
    _check_graph(script)
    return script


__all__ = ["ScriptSchema", "build_script"]
