"""What the catalogue tests share: the message ids Babel extracts from the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("hotline", "dispatch", "callflows")


def mapping(config: Path) -> tuple[list, dict]:
    """The method and options maps of a ``pybabel extract -F`` mapping file."""
    with config.open(encoding="utf-8") as handle:
        return parse_mapping_cfg(handle)


def extracted_msgids(config: Path, **options: Any) -> dict[str, str]:
    """Every msgid the mapping ``config`` finds in the source, with the first place it occurs.

    ``options`` go to Babel's ``extract_from_dir`` (``keywords={}`` to use only
    the mapping's own keywords).
    """
    method_map, options_map = mapping(config)
    found: dict[str, str] = {}
    for folder in SOURCE_DIRS:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, options_map, **options
        ):
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    found.setdefault(msgid, f"{folder}/{filename}:{lineno}")
    return found
