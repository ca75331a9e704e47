"""Call scripts as data: the steps, prompts and answers of the TOML files in ``scripts/``.

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

:func:`load_script` reads a file; :mod:`callflows.domain.script_schema` checks
it. Every structural mistake in a file raises :class:`ScriptError` naming the
file, the step and the key, so a broken script fails at start-up rather than
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


#: A ``{placeholder}`` in a wording: a name of the utility or a capture field.
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _render(template: str, values: Mapping[str, str], blank: str) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or blank, template)


#: The promised time as the Chinese wording says it and the case fills it in (``11月27日09:00``).
_SPOKEN_TIME = re.compile(r"^(\d{1,2})月(\d{1,2})日(\d{1,2}:\d{2})$")


def _in_english(values: Mapping[str, str]) -> dict[str, str]:
    """Captured values for the English line: a time said in Chinese becomes ``11-27 09:00``.

    What the caller said stays as said; only the times the product fills in
    (the promised time, F11) have an English form.
    """
    shown = dict(values)
    for name, value in values.items():
        found = _SPOKEN_TIME.match(value or "")
        if found:
            month, day, clock = found.groups()
            shown[name] = f"{int(month):02d}-{int(day):02d} {clock}"
    return shown


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

        A field without a value renders as ``××`` (zh) or ``…`` (en); the
        promised time ``11月27日09:00`` reads ``11-27 09:00`` in English. Raises
        ``ValueError`` for a language other than ``"zh"`` or ``"en"``.
        """
        if lang == "zh":
            return _render(self.zh, values, BLANK_ZH)
        if lang == "en":
            return _render(self.en, _in_english(values), BLANK_EN)
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
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScriptError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ScriptError(path, f"not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(path, f"not valid TOML: {exc}") from exc
    # The schema builds this module's steps, so it is imported on first use.
    from callflows.domain.script_schema import build_script

    return build_script(raw, path, names)


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
