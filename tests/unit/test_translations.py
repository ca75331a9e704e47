"""The English catalogue covers the interface: every Chinese msgid in the source
has an English translation with the same placeholders, and the catalogue
compiles.

The msgids are extracted here with Babel and the mapping in ``babel.cfg``, the
same way ``pybabel extract`` does, so a string added to a template or to
``hotline/web/labels.py`` without its translation fails this test.
"""

from __future__ import annotations

import gettext
import re
from collections import Counter
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.unit.catalogues import extracted_msgids

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("hotline", "dispatch", "callflows")
CATALOGUE = ROOT / "hotline" / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%")


def _extracted_msgids() -> dict[str, str]:
    """Every msgid in the source, with the first place it occurs."""
    return extracted_msgids(ROOT / "babel.cfg")


def _catalogue() -> Catalog:
    with CATALOGUE.open("rb") as handle:
        return read_po(handle, locale="en", abort_invalid=True)


def _placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


@pytest.fixture(scope="module")
def msgids() -> dict[str, str]:
    return _extracted_msgids()


@pytest.fixture(scope="module")
def catalogue() -> Catalog:
    return _catalogue()


def test_extraction_finds_templates_and_lazy_labels(msgids: dict[str, str]) -> None:
    # One string from a template, one from labels.py (lazy_gettext), one from a view.
    assert "接线台" in msgids
    assert msgids["已签收"].startswith("hotline/web/labels.py")
    assert "工单号 %(number)s" in msgids


def test_every_extracted_msgid_has_an_english_translation(
    msgids: dict[str, str], catalogue: Catalog
) -> None:
    untranslated = []
    for msgid, where in sorted(msgids.items(), key=lambda item: item[1]):
        entry = catalogue.get(msgid)
        if entry is None or not str(entry.string or "").strip() or entry.fuzzy:
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, "msgids without an English translation in {}:\n{}".format(
        CATALOGUE.relative_to(ROOT), "\n".join(untranslated)
    )


def test_translations_keep_the_placeholders_of_their_msgid(catalogue: Catalog) -> None:
    mismatched = [
        f"{entry.id!r} -> {entry.string!r}"
        for entry in catalogue
        if entry.id
        and entry.string
        and _placeholders(str(entry.id)) != _placeholders(str(entry.string))
    ]
    assert not mismatched, "placeholders differ:\n" + "\n".join(mismatched)


def test_catalogue_passes_babels_checks(catalogue: Catalog) -> None:
    problems = [
        f"{entry.id!r}: {'; '.join(map(str, errors))}" for entry, errors in catalogue.check()
    ]
    assert not problems, "\n".join(problems)


def test_catalogue_compiles_and_translates(catalogue: Catalog) -> None:
    buffer = BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    compiled = gettext.GNUTranslations(buffer)
    assert compiled.gettext("接线台") == "Operator console"
    assert compiled.gettext("工单号 %(number)s") % {"number": "RY-20261126-0001"} == (
        "Case number RY-20261126-0001"
    )
    lost = [
        entry.id
        for entry in catalogue
        if entry.id and entry.string and compiled.gettext(str(entry.id)) != entry.string
    ]
    assert not lost, f"not in the compiled catalogue: {lost}"
