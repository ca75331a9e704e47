"""Every refusal can be said in Chinese: its words are a template (never text
filled in before it is raised), and every template in the source has a
Simplified Chinese translation with the same placeholders.

The templates are extracted with Babel and the mapping in
``babel-refusals.cfg``, the same way ``pybabel extract`` does, so a refusal
added without its translation, or written as an f-string, fails here.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from hotline.domain.errors import Invalid, Rejected, wording
from hotline.domain.lifecycle import GuardRefused
from tests.unit.catalogues import extracted_msgids, mapping

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("hotline", "dispatch", "callflows")
MAPPING = ROOT / "babel-refusals.cfg"
CATALOGUE = ROOT / "hotline" / "web" / "translations" / "zh" / "LC_MESSAGES" / "refusals.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%")
_CHINESE = re.compile(r"[\u3400-\u9fff]")


def _keywords() -> dict[str, int]:
    """Refusal class name -> the position (0-based) of its template."""
    _method_map, options_map = mapping(MAPPING)
    spec = next(iter(options_map.values()))["keywords"]
    positions: dict[str, int] = {}
    for name, places in spec.items():
        first = places[0] if isinstance(places, tuple) and places else 1
        positions[name] = (first if isinstance(first, int) else 1) - 1
    return positions


def _extracted() -> dict[str, str]:
    """Every refusal template in the source, with the first place it occurs."""
    return extracted_msgids(MAPPING, keywords={})


def _catalogue() -> Catalog:
    with CATALOGUE.open("rb") as handle:
        return read_po(handle, locale="zh", abort_invalid=True)


@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    return _extracted()


@pytest.fixture(scope="module")
def catalogue() -> Catalog:
    return _catalogue()


def _filled_in(node: ast.expr) -> bool:
    """Whether ``node`` builds its text before the refusal is raised."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp):
        return True  # "…" % values, "…" + text
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in {"format", "join"}:
            return True
        if isinstance(func, ast.Name) and func.id in {"str", "repr", "format"}:
            return True
    return False


def test_no_refusal_fills_in_its_words_before_it_is_raised() -> None:
    positions = _keywords()
    offenders = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name not in positions or len(node.args) <= positions[name]:
                    continue
                if _filled_in(node.args[positions[name]]):
                    where = path.relative_to(ROOT)
                    offenders.append(
                        f"{where}:{node.lineno}: {name}({ast.unparse(node.args[0])[:60]}…"
                    )
    assert not offenders, (
        "a refusal's words must be a template and its values, e.g. "
        "Invalid('case %(number)s is closed', 'number', number=number); "
        "a refusal passed on keeps its words with Invalid.from_error(exc, field):\n"
        + "\n".join(offenders)
    )


def test_extraction_finds_the_refusals(templates: dict[str, str]) -> None:
    # A template from a service, from the lifecycle's guards (GuardRefused's second argument)
    # and from the call-script engine.
    assert "completing the work needs a result note" in templates
    assert templates["completing the work needs a result note"].startswith("hotline/domain/")
    assert any(where.startswith("callflows/domain/") for where in templates.values())
    assert any(where.startswith("dispatch/") for where in templates.values())


def test_every_refusal_has_simplified_chinese_words(
    templates: dict[str, str], catalogue: Catalog
) -> None:
    untranslated = []
    for msgid, where in sorted(templates.items(), key=lambda item: item[1]):
        entry = catalogue.get(msgid)
        text = str(entry.string or "") if entry is not None else ""
        if entry is None or entry.fuzzy or not _CHINESE.search(text):
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, (
        "refusals without Chinese words in "
        f"{CATALOGUE.relative_to(ROOT)} (see docs/i18n.md):\n" + "\n".join(untranslated)
    )


def test_translations_keep_their_placeholders(catalogue: Catalog) -> None:
    wrong = [
        f"{entry.id!r} -> {entry.string!r}"
        for entry in catalogue
        if entry.id
        and Counter(PLACEHOLDER.findall(entry.id)) != Counter(PLACEHOLDER.findall(entry.string))
    ]
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_catalogue_holds_only_refusals_still_in_the_source(
    templates: dict[str, str], catalogue: Catalog
) -> None:
    stale = sorted(entry.id for entry in catalogue if entry.id and entry.id not in templates)
    assert not stale, "no longer raised anywhere; remove from the catalogue:\n" + "\n".join(
        repr(msgid) for msgid in stale
    )


def test_catalogue_compiles(catalogue: Catalog) -> None:
    buffer = BytesIO()
    write_mo(buffer, catalogue)
    assert buffer.getvalue()


def test_a_refusal_keeps_its_template_and_values_and_says_them_in_english() -> None:
    refusal = Invalid("case %(number)s is closed", "number", "F6", number="R1")
    assert refusal.message == str(refusal) == "case R1 is closed"
    assert wording(refusal) == ("case %(number)s is closed", {"number": "R1"})
    passed_on = Invalid.from_error(Rejected("'%(name)s' is empty", name="title"), "title")
    assert (passed_on.template, passed_on.params, passed_on.message) == (
        "'%(name)s' is empty",
        {"name": "title"},
        "'title' is empty",
    )
    guard = GuardRefused("F6", "completing the work needs a result note", "result_note")
    assert str(guard) == "completing the work needs a result note (F6)"
    assert wording(guard) == ("completing the work needs a result note", {})
