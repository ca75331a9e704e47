"""The documentation shows the lifecycle table as the code has it."""

from __future__ import annotations

from pathlib import Path

from hotline.domain.lifecycle import markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_architecture_doc_shows_the_lifecycle_table_of_the_code():
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    start = text.index("<!-- lifecycle:start -->") + len("<!-- lifecycle:start -->")
    end = text.index("<!-- lifecycle:end -->")
    assert text[start:end].strip() == markdown_table(), (
        "docs/architecture.md is out of date: paste the output of "
        "`python -c 'from hotline.domain.lifecycle import markdown_table; print(markdown_table())'`"
    )
