"""Call scripts as data: loading and validating the TOML files in ``scripts/``.

A script is a small directed graph of steps. Each step carries the words the
operator says (zh-CN, verbatim where the service standard gives them, with
English beside it), whether it is required, which fields it captures and, where
the call can go more than one way, its branches (answer -> next step).

Two kinds of placeholder appear in the wording:

* names of the utility (``{company}``, ``{company_short}``,
  ``{official_account}``), filled once at load time from configuration, so the
  loaded text is the standard's wording verbatim;
* capture fields (``{community}``, ``{problem}``...), left in the loaded text and
  filled when a step is rendered for a live call; a field not yet known renders
  as ``××``, exactly as the standard writes an unknown value.

Every structural mistake in a file raises :class:`ScriptError` naming the file,
the step and the key, so a broken script fails at start-up rather than
mid-call.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from hotline.domain.taxonomy import (
    Category,
    Disposition,
    FollowUpOutcome,
    Priority,
    TriageOutcome,
)

__all__ = [
    "CONFIG_NAMES",
    "FIELDS",
    "PROMPT_IDS",
    "Branch",
    "FieldSpec",
    "Prompt",
    "Script",
    "ScriptError",
    "Step",
    "StepKind",
    "load_all",
    "load_script",
]

#: Placeholders filled from configuration when a script is loaded.
CONFIG_NAMES: tuple[str, ...] = ("company", "company_short", "official_account")

#: Prompts a script may offer outside its step sequence, at any step.
PROMPT_IDS: tuple[str, ...] = ("not_heard", "lookup")

#: The standard writes an unknown value as ××; an unfilled field renders so.
BLANK_ZH = "××"
BLANK_EN = "…"


class StepKind(StrEnum):
    """What the operator does at a step; the engine treats some kinds specially."""

    GREETING = "greeting"  # 开场问候: the first words (measured: missing greeting)
    SAY = "say"  # 告知: words to say
    ASK = "ask"  # 询问: a question whose answer is captured
    LISTEN = "listen"  # 判断: the operator listens and decides; text not spoken
    READ_BACK = "read_back"  # 复述确认 (P4): gated on the read-back confirmation
    CLOSING = "closing"  # 结束语 (measured: missing closing)


@dataclass(frozen=True)
class FieldSpec:
    """A field a script may capture; ``choices`` limits its values when set."""

    name: str
    zh: str
    en: str
    choices: tuple[str, ...] = ()


def _values(enum: type[StrEnum], *, without: tuple[StrEnum, ...] = ()) -> tuple[str, ...]:
    return tuple(member.value for member in enum if member not in without)


# Ratings of one aspect of the service share the follow-up outcome's words;
# "unreachable" only makes sense for the call as a whole.
_RATINGS = _values(FollowUpOutcome, without=(FollowUpOutcome.UNREACHABLE,))

_FIELD_LIST: tuple[FieldSpec, ...] = (
    # Intake (P3, P4)
    FieldSpec("caller_name", "来电人姓氏", "Caller's name"),
    FieldSpec("contact_phone", "联系电话", "Contact phone"),
    FieldSpec("problem", "问题", "Problem"),
    FieldSpec("need", "需求", "Need"),
    FieldSpec("address", "详细地址", "Detailed address"),
    FieldSpec("category", "类别", "Category", _values(Category)),
    FieldSpec("priority", "紧急程度", "Priority", _values(Priority)),
    # Triage and outcome (P5, G5, F11)
    FieldSpec("fault_location", "故障位置", "Where the fault is"),
    FieldSpec("triage", "初步判断", "Triage", _values(TriageOutcome)),
    FieldSpec("disposition", "通话结果", "Disposition", _values(Disposition)),
    FieldSpec("transfer_department", "负责部门", "Responsible department"),
    FieldSpec("caller_told", "告知内容", "What the caller was told"),
    FieldSpec("case_number", "工单号", "Case number"),
    FieldSpec("promised_time", "承诺时限", "Promised time"),
    # Dunning (W15)
    FieldSpec("customer_name", "户名", "Account holder"),
    FieldSpec("community", "小区", "Residential community"),
    FieldSpec("arrears_period", "欠费时长", "Time in arrears"),
    # Follow-up (P7)
    FieldSpec("attitude", "服务态度", "Staff attitude", _RATINGS),
    FieldSpec("quality", "工作质量", "Quality of work", _RATINGS),
    FieldSpec("timeliness", "处理时限", "Timeliness", _RATINGS),
    FieldSpec("result", "处理结果", "Result", _RATINGS),
    FieldSpec("follow_up_outcome", "回访结果", "Follow-up outcome", _values(FollowUpOutcome)),
    FieldSpec("follow_up_comment", "意见和建议", "Comments and suggestions"),
    FieldSpec("callback_time", "约定回电时间", "Agreed callback time"),
    # Planned outage or pressure drop (P8)
    FieldSpec("outage_area", "停水区域", "Area affected"),
    FieldSpec("outage_start", "开始时间", "Start"),
    FieldSpec("outage_end", "恢复时间", "Expected end"),
    FieldSpec("outage_reason", "原因", "Reason"),
)

#: Every field a script may capture, by name.
FIELDS: Mapping[str, FieldSpec] = {spec.name: spec for spec in _FIELD_LIST}


class ScriptError(ValueError):
    """A script file is malformed; the message names the file, step and key.

    ``path``, ``step_id`` (or ``prompt_id``), ``key`` and ``detail`` (the
    problem alone) are kept as attributes for callers that show them apart.
    """

    def __init__(
        self,
        path: Path | str,
        detail: str,
        *,
        step_id: str | None = None,
        key: str | None = None,
        prompt_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.step_id = step_id
        self.prompt_id = prompt_id
        self.key = key
        self.detail = detail
        where = [str(path)]
        if step_id is not None:
            where.append(f"step '{step_id}'")
        if prompt_id is not None:
            where.append(f"prompt '{prompt_id}'")
        if key is not None:
            where.append(f"key '{key}'")
        super().__init__(f"{': '.join(where)}: {detail}")


@dataclass(frozen=True)
class Branch:
    """One answer at a branching step and the step it leads to.

    ``next`` is ``None`` when the answer ends the script. ``sets`` are field
    values the answer implies (for example a complaint sets the category).
    """

    answer: str
    zh: str
    en: str
    next: str | None
    sets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Prompt:
    """Words available at any step (the not-heard line, the look-up line)."""

    id: str
    zh: str
    en: str
    rule: str | None = None
    verbatim: bool = False
    note_zh: str = ""
    note_en: str = ""


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _render(template: str, values: Mapping[str, str], blank: str) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or blank, template)


@dataclass(frozen=True)
class Step:
    """One step of a script.

    ``zh`` and ``en`` have the utility's names already filled in; they may still
    hold capture-field placeholders, listed in ``placeholders`` and filled by
    :meth:`render`. ``captures`` must be filled before the step can be
    completed; ``optional_captures`` may be. At a branching step the chosen
    answer is stored in ``answer_field`` when one is named. ``next`` is the
    step that follows (after a skip, or an answer whose branch names none);
    ``None`` ends the script.
    """

    id: str
    kind: StepKind
    zh: str
    en: str
    required: bool
    captures: tuple[str, ...] = ()
    optional_captures: tuple[str, ...] = ()
    answer_field: str | None = None
    branches: tuple[Branch, ...] = ()
    next: str | None = None
    rule: str | None = None
    verbatim: bool = False
    note_zh: str = ""
    note_en: str = ""
    placeholders: frozenset[str] = field(default_factory=frozenset)

    @property
    def answers(self) -> tuple[str, ...]:
        """The answers this step accepts, in file order (empty if it does not branch)."""
        return tuple(branch.answer for branch in self.branches)

    def branch(self, answer: str) -> Branch:
        """Return the branch for ``answer``; raise ``KeyError`` if there is none."""
        for branch in self.branches:
            if branch.answer == answer:
                return branch
        raise KeyError(f"step '{self.id}' has no answer '{answer}'")

    def target(self, answer: str) -> str | None:
        """The step id an answer leads to (``None``: the script ends)."""
        branch = self.branch(answer)
        return branch.next if branch.next is not None else self.next

    def render(self, values: Mapping[str, str], *, lang: str = "zh") -> str:
        """The step's wording with capture fields filled from ``values``.

        A field without a value renders as ``××`` (zh) or ``…`` (en). Raises
        ``ValueError`` for a language other than ``"zh"`` or ``"en"``.
        """
        if lang == "zh":
            return _render(self.zh, values, BLANK_ZH)
        if lang == "en":
            return _render(self.en, values, BLANK_EN)
        raise ValueError(f"unknown language {lang!r}; expected 'zh' or 'en'")


@dataclass(frozen=True)
class Script:
    """A validated script: its steps in file order, its prompts, where it starts."""

    id: str
    name_zh: str
    name_en: str
    path: Path
    start: str
    steps: tuple[Step, ...]
    prompts: tuple[Prompt, ...] = ()
    rules: tuple[str, ...] = ()

    @cached_property
    def _by_id(self) -> dict[str, Step]:
        return {step.id: step for step in self.steps}

    def step(self, step_id: str) -> Step:
        """Return the step with this id; raise ``KeyError`` if there is none."""
        try:
            return self._by_id[step_id]
        except KeyError:
            raise KeyError(f"script '{self.id}' has no step '{step_id}'") from None

    def prompt(self, prompt_id: str) -> Prompt | None:
        """Return the prompt with this id, or ``None`` if the script has none."""
        for prompt in self.prompts:
            if prompt.id == prompt_id:
                return prompt
        return None

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids in file order."""
        return tuple(step.id for step in self.steps)

    @property
    def required_step_ids(self) -> tuple[str, ...]:
        """Ids of the required steps, in file order."""
        return tuple(step.id for step in self.steps if step.required)

    @cached_property
    def fields(self) -> frozenset[str]:
        """Every field the script captures, sets or shows in its wording."""
        names: set[str] = set()
        for step in self.steps:
            names.update(step.captures, step.optional_captures, step.placeholders)
            if step.answer_field:
                names.add(step.answer_field)
            for branch in step.branches:
                names.update(name for name, _ in branch.sets)
        return frozenset(names)

    def successors(self, step_id: str) -> tuple[str | None, ...]:
        """Every step that can follow ``step_id`` (``None`` stands for the end)."""
        step = self.step(step_id)
        targets: list[str | None] = [step.target(a) for a in step.answers]
        # A step without branches goes on to ``next``; so does an optional
        # branching step when it is skipped.
        if not step.branches or not step.required:
            targets.append(step.next)
        return tuple(dict.fromkeys(targets))


# --- loading -------------------------------------------------------------------

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE = re.compile(r"^[A-Z]+[0-9]+$")
_TOP_KEYS = {"script", "steps", "prompts"}
_SCRIPT_KEYS = {"name_zh", "name_en", "rules", "start"}
_STEP_KEYS = {
    "id",
    "kind",
    "zh",
    "en",
    "required",
    "captures",
    "optional_captures",
    "answer_field",
    "branches",
    "next",
    "end",
    "rule",
    "verbatim",
    "note_zh",
    "note_en",
}
_BRANCH_KEYS = {"answer", "zh", "en", "next", "sets"}
_PROMPT_KEYS = {"id", "zh", "en", "rule", "verbatim", "note_zh", "note_en"}


class _Loader:
    """Validates one parsed file; every error goes through :meth:`fail`."""

    def __init__(self, path: Path, names: Mapping[str, str]) -> None:
        self.path = path
        self.names = names

    def fail(self, message: str, *, step: str | None = None, key: str | None = None) -> ScriptError:
        return ScriptError(self.path, message, step_id=step, key=key)

    # -- primitive checks

    def table(self, value: Any, *, allowed: set[str], step: str | None, key: str | None) -> dict:
        if not isinstance(value, dict):
            raise self.fail("expected a table", step=step, key=key)
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                step=step,
                key=unknown[0],
            )
        return value

    def text(self, data: dict, key: str, *, step: str | None, required: bool = True) -> str:
        if key not in data:
            if required:
                raise self.fail("missing; the wording is required", step=step, key=key)
            return ""
        value = data[key]
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail("must be a non-empty string", step=step, key=key)
        return value

    def flag(self, data: dict, key: str, *, step: str | None, default: bool | None) -> bool:
        if key not in data:
            if default is None:
                raise self.fail("missing; say true or false", step=step, key=key)
            return default
        value = data[key]
        if not isinstance(value, bool):
            raise self.fail("must be true or false", step=step, key=key)
        return value

    def names_list(self, data: dict, key: str, *, step: str | None) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("must be a list of strings", step=step, key=key)
        if len(set(value)) != len(value):
            raise self.fail("lists a name twice", step=step, key=key)
        return tuple(value)

    def field_name(self, name: str, *, step: str | None, key: str) -> str:
        if name not in FIELDS:
            raise self.fail(
                f"unknown capture field '{name}'; known fields: {', '.join(sorted(FIELDS))}",
                step=step,
                key=key,
            )
        return name

    def field_value(self, name: str, value: Any, *, step: str | None, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"value for '{name}' must be a non-empty string", step=step, key=key)
        choices = FIELDS[name].choices
        if choices and value not in choices:
            raise self.fail(
                f"'{value}' is not a value of '{name}'; expected one of {', '.join(choices)}",
                step=step,
                key=key,
            )
        return value

    def rule(self, data: dict, *, step: str | None) -> str | None:
        value = data.get("rule")
        if value is None:
            return None
        if not isinstance(value, str) or not _RULE.match(value):
            raise self.fail("must be a rule id such as 'P3'", step=step, key="rule")
        return value

    def wording(self, template: str, *, step: str | None, key: str) -> tuple[str, frozenset[str]]:
        """Fill the utility's names; return the text and its capture placeholders."""
        stray = _PLACEHOLDER.sub("", template)
        if "{" in stray or "}" in stray:
            raise self.fail("has a brace that is not a {placeholder}", step=step, key=key)
        fields: set[str] = set()
        for name in _PLACEHOLDER.findall(template):
            if name in CONFIG_NAMES:
                continue
            if name not in FIELDS:
                raise self.fail(
                    f"unknown placeholder '{{{name}}}'; use one of "
                    f"{', '.join(CONFIG_NAMES)} or a capture field",
                    step=step,
                    key=key,
                )
            fields.add(name)
        filled = _PLACEHOLDER.sub(
            lambda m: self.names.get(m.group(1), m.group(0)),
            template,
        )
        return filled, frozenset(fields)

    # -- parts of a script

    def prompt(self, raw: Any, seen: set[str]) -> Prompt:
        if not isinstance(raw, dict):
            raise self.fail("each [[prompts]] entry must be a table", key="prompts")
        prompt_id = raw.get("id")
        label = prompt_id if isinstance(prompt_id, str) else None
        try:
            return self._prompt(raw, prompt_id, seen)
        except ScriptError as exc:
            # The shared checks speak of steps; name the prompt instead.
            raise ScriptError(self.path, exc.detail, prompt_id=label, key=exc.key) from None

    def _prompt(self, raw: dict, prompt_id: Any, seen: set[str]) -> Prompt:
        data = self.table(raw, allowed=_PROMPT_KEYS, step=None, key=None)
        if prompt_id not in PROMPT_IDS:
            raise self.fail(
                f"unknown prompt id {prompt_id!r}; expected one of {', '.join(PROMPT_IDS)}",
                key="id",
            )
        if prompt_id in seen:
            raise self.fail("duplicate prompt id", key="id")
        seen.add(prompt_id)
        zh, zh_fields = self.wording(self.text(data, "zh", step=None), step=None, key="zh")
        en, en_fields = self.wording(self.text(data, "en", step=None), step=None, key="en")
        if zh_fields or en_fields:
            raise self.fail("prompts may not use capture fields", key="zh")
        return Prompt(
            id=prompt_id,
            zh=zh,
            en=en,
            rule=self.rule(data, step=None),
            verbatim=self.flag(data, "verbatim", step=None, default=False),
            note_zh=self.text(data, "note_zh", step=None, required=False),
            note_en=self.text(data, "note_en", step=None, required=False),
        )

    def branch(self, raw: Any, step_id: str, answer_field: str | None) -> Branch:
        data = self.table(raw, allowed=_BRANCH_KEYS, step=step_id, key="branches")
        answer = data.get("answer")
        if not isinstance(answer, str) or not _ID.match(answer):
            raise self.fail(
                "each branch needs an 'answer' id (lower case, digits, underscores)",
                step=step_id,
                key="branches.answer",
            )
        if answer_field is not None:
            self.field_value(answer_field, answer, step=step_id, key="branches.answer")
        for key in ("zh", "en"):
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise self.fail(
                    f"answer '{answer}' needs a {key} label", step=step_id, key=f"branches.{key}"
                )
        target = data.get("next")
        if target is not None and not isinstance(target, str):
            raise self.fail("must be a step id", step=step_id, key="branches.next")
        sets_raw = data.get("sets", {})
        if not isinstance(sets_raw, dict):
            raise self.fail("must be a table of field = value", step=step_id, key="branches.sets")
        sets = tuple(
            (
                self.field_name(name, step=step_id, key="branches.sets"),
                self.field_value(name, value, step=step_id, key="branches.sets"),
            )
            for name, value in sets_raw.items()
        )
        return Branch(answer=answer, zh=data["zh"], en=data["en"], next=target, sets=sets)

    def step(self, raw: Any, index: int) -> Step:
        if not isinstance(raw, dict):
            raise self.fail(f"[[steps]] entry {index + 1} must be a table", key="steps")
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not _ID.match(step_id):
            raise self.fail(
                f"[[steps]] entry {index + 1} needs an 'id' (lower case, digits, underscores)",
                step=step_id if isinstance(step_id, str) else None,
                key="id",
            )
        data = self.table(raw, allowed=_STEP_KEYS, step=step_id, key=None)
        kind_raw = data.get("kind", StepKind.SAY.value)
        try:
            kind = StepKind(kind_raw)
        except ValueError:
            raise self.fail(
                f"unknown kind {kind_raw!r}; expected one of {', '.join(StepKind)}",
                step=step_id,
                key="kind",
            ) from None
        zh, zh_fields = self.wording(self.text(data, "zh", step=step_id), step=step_id, key="zh")
        en, en_fields = self.wording(self.text(data, "en", step=step_id), step=step_id, key="en")
        if not en_fields <= zh_fields:
            extra = ", ".join(sorted(en_fields - zh_fields))
            raise self.fail(
                f"English wording uses {extra}, which the Chinese wording does not",
                step=step_id,
                key="en",
            )
        captures = tuple(
            self.field_name(name, step=step_id, key="captures")
            for name in self.names_list(data, "captures", step=step_id)
        )
        optional = tuple(
            self.field_name(name, step=step_id, key="optional_captures")
            for name in self.names_list(data, "optional_captures", step=step_id)
        )
        both = set(captures) & set(optional)
        if both:
            raise self.fail(
                f"{', '.join(sorted(both))} listed as both required and optional",
                step=step_id,
                key="optional_captures",
            )
        answer_field = data.get("answer_field")
        if answer_field is not None:
            if not isinstance(answer_field, str):
                raise self.fail("must be a field name", step=step_id, key="answer_field")
            self.field_name(answer_field, step=step_id, key="answer_field")
        branches_raw = data.get("branches", [])
        if not isinstance(branches_raw, list):
            raise self.fail("must be an array of tables", step=step_id, key="branches")
        branches = tuple(self.branch(b, step_id, answer_field) for b in branches_raw)
        answers = [b.answer for b in branches]
        duplicates = sorted({a for a in answers if answers.count(a) > 1})
        if duplicates:
            raise self.fail(
                f"answer(s) {', '.join(duplicates)} appear twice",
                step=step_id,
                key="branches.answer",
            )
        if answer_field is not None and not branches:
            raise self.fail(
                "names an answer field but offers no answers", step=step_id, key="answer_field"
            )
        if len(branches) == 1:
            raise self.fail(
                "a branching step needs at least two answers", step=step_id, key="branches"
            )
        target = data.get("next")
        if target is not None and not isinstance(target, str):
            raise self.fail("must be a step id", step=step_id, key="next")
        ends = self.flag(data, "end", step=step_id, default=False)
        if ends and target is not None:
            raise self.fail(
                "a step cannot both end the script and have a next step", step=step_id, key="end"
            )
        required = self.flag(data, "required", step=step_id, default=None)
        open_branch = any(b.next is None for b in branches)
        if target is None and not ends and (not branches or open_branch or not required):
            why = (
                "a branch names no next step"
                if branches and open_branch
                else "an optional step can be skipped"
                if branches
                else "the step does not branch"
            )
            raise self.fail(f"needs 'next' or 'end = true' ({why})", step=step_id, key="next")
        return Step(
            id=step_id,
            kind=kind,
            zh=zh,
            en=en,
            required=required,
            captures=captures,
            optional_captures=optional,
            answer_field=answer_field,
            branches=branches,
            next=target,
            rule=self.rule(data, step=step_id),
            verbatim=self.flag(data, "verbatim", step=step_id, default=False),
            note_zh=self.text(data, "note_zh", step=step_id, required=False),
            note_en=self.text(data, "note_en", step=step_id, required=False),
            placeholders=zh_fields,
        )

    # -- the whole file

    def load(self) -> Script:
        try:
            raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise self.fail(f"cannot read the file: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise self.fail(f"not UTF-8 text: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise self.fail(f"not valid TOML: {exc}") from exc
        self.table(raw, allowed=_TOP_KEYS, step=None, key=None)

        head = self.table(raw.get("script"), allowed=_SCRIPT_KEYS, step=None, key="script")
        for key in ("name_zh", "name_en"):
            if not isinstance(head.get(key), str) or not head[key].strip():
                raise self.fail("must be a non-empty string", key=f"script.{key}")
        rules = head.get("rules", [])
        if not isinstance(rules, list) or not all(
            isinstance(r, str) and _RULE.match(r) for r in rules
        ):
            raise self.fail("must be a list of rule ids such as 'P3'", key="script.rules")

        prompts_raw = raw.get("prompts", [])
        if not isinstance(prompts_raw, list):
            raise self.fail("must be an array of tables ([[prompts]])", key="prompts")
        seen_prompts: set[str] = set()
        prompts = tuple(self.prompt(p, seen_prompts) for p in prompts_raw)

        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            raise self.fail("a script needs at least one [[steps]] entry", key="steps")
        steps: list[Step] = []
        seen: set[str] = set()
        for index, entry in enumerate(steps_raw):
            step = self.step(entry, index)
            if step.id in seen:
                raise self.fail("duplicate step id", step=step.id, key="id")
            seen.add(step.id)
            steps.append(step)

        start = head.get("start", steps[0].id)
        if start not in seen:
            raise self.fail(f"start step '{start}' does not exist", key="script.start")

        script = Script(
            id=self.path.stem,
            name_zh=head["name_zh"],
            name_en=head["name_en"],
            path=self.path,
            start=start,
            steps=tuple(steps),
            prompts=prompts,
            rules=tuple(rules),
        )
        self.check_graph(script)
        return script

    def check_graph(self, script: Script) -> None:
        for step in script.steps:
            if step.next is not None and step.next not in script.step_ids:
                raise self.fail(f"unknown next step '{step.next}'", step=step.id, key="next")
            for branch in step.branches:
                if branch.next is not None and branch.next not in script.step_ids:
                    raise self.fail(
                        f"answer '{branch.answer}' leads to unknown step '{branch.next}'",
                        step=step.id,
                        key="branches.next",
                    )

        reachable = _reach(script, script.start)
        for step in script.steps:
            if step.id not in reachable:
                what = "required step" if step.required else "step"
                raise self.fail(
                    f"{what} is unreachable from the start step '{script.start}'",
                    step=step.id,
                    key="id",
                )
        for step in script.steps:
            if None not in _reach(script, step.id):
                raise self.fail(
                    "every path from this step loops forever; no path reaches the end",
                    step=step.id,
                    key="next",
                )


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


def _check_names(names: Mapping[str, str]) -> dict[str, str]:
    for key, value in names.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        if "{" in value or "}" in value:
            raise ValueError(f"{key} may not contain braces: {value!r}")
    return dict(names)


def load_script(
    path: Path | str,
    *,
    company: str,
    company_short: str,
    official_account: str,
) -> Script:
    """Load and validate one script file.

    ``company`` (the full name, 禹城市润禹水务有限公司), ``company_short``
    (润禹水务有限公司, as the dunning wording has it) and ``official_account``
    (润禹水务公众号) fill the ``{company}``, ``{company_short}`` and
    ``{official_account}`` placeholders. The script's id is the file's stem.

    Raises :class:`ScriptError` (naming the file, step and key) for a file that
    cannot be read or parsed, an unknown key, a missing wording, a duplicate
    step id, an unknown capture field or placeholder, an answer outside its
    field's values, a next step that does not exist, a step that cannot be
    reached from the start or can never reach the end. Raises ``ValueError``
    for an empty name.
    """
    names = _check_names(
        {"company": company, "company_short": company_short, "official_account": official_account}
    )
    return _Loader(Path(path), names).load()


def load_all(directory: Path | str, **names: str) -> dict[str, Script]:
    """Load every ``*.toml`` script in ``directory``, keyed by script id.

    ``names`` are the keyword arguments of :func:`load_script` (``company``,
    ``company_short``, ``official_account``). Raises :class:`ScriptError` for
    the first malformed file (in name order) or when ``directory`` is not a
    directory, and ``TypeError`` for a missing or unexpected name.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ScriptError(folder, "not a directory of call scripts")
    missing = sorted(set(CONFIG_NAMES) - set(names))
    unexpected = sorted(set(names) - set(CONFIG_NAMES))
    if missing or unexpected:
        raise TypeError(
            f"load_all() needs exactly {', '.join(CONFIG_NAMES)}; "
            f"missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(unexpected) or 'none'}"
        )
    return {path.stem: load_script(path, **names) for path in sorted(folder.glob("*.toml"))}
