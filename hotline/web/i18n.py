"""Languages: Simplified Chinese first, English by a switch that stays.

Flask-Babel translates the interface. The catalogues are kept as ``.po`` text
in ``hotline/web/translations``; they are compiled to ``.mo`` in the instance
folder at start-up when missing or older than their source, so no compiled
file is kept in the source tree and none goes stale.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale

from hotline.domain import privacy
from hotline.domain.phones import display

SOURCE = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("zh_CN", "en")

babel = Babel()


#: Compiled catalogues of this process, by source: (its mtime, the ``.mo`` bytes).
_COMPILED: dict[Path, tuple[float, bytes]] = {}


def _compiled(po_path: Path) -> bytes:
    """``po_path`` compiled, parsed once per process while the file is unchanged."""
    mtime = po_path.stat().st_mtime
    cached = _COMPILED.get(po_path)
    if cached is None or cached[0] != mtime:
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parts[-3])
        buffer = BytesIO()
        write_mo(buffer, catalog)
        cached = _COMPILED[po_path] = (mtime, buffer.getvalue())
    return cached[1]


def compile_catalogues(target: Path) -> Path:
    """Compile every ``.po`` under :data:`SOURCE` into ``target``; returns ``target``."""
    for po_path in SOURCE.glob("*/LC_MESSAGES/*.po"):
        relative = po_path.relative_to(SOURCE).with_suffix(".mo")
        mo_path = target / relative
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        # A file of this process's own, then an atomic rename: processes that
        # start side by side (a server's workers) never write the same file.
        tmp = mo_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(_compiled(po_path))
        tmp.replace(mo_path)
    return target


def select_locale() -> str:
    """The language chosen in this session, else the configured default."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")


def local_time(value: datetime | str | None, fmt: str = "%m-%d %H:%M") -> str:
    """A time in the utility's zone as ``11-26 14:05`` (empty for none).

    A recorded ISO time with its offset is read first; any other text is empty.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
        if value.tzinfo is None:
            return ""
    if value is None:
        return ""
    return value.astimezone(current_app.extensions["hotline"].timezone).strftime(fmt)


def english() -> bool:
    """Whether the page speaks English (else Chinese)."""
    locale = get_locale()
    return locale is not None and locale.language == "en"


def department_name(department: object) -> str:
    """A department's (or a service area's) name in the page language; empty for none."""
    if department is None:
        return ""
    chinese = getattr(department, "name_zh", "") or ""
    if english():
        return getattr(department, "name_en", "") or chinese
    return chinese


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and the display filters to ``app``."""
    compiled = compile_catalogues(Path(app.instance_path) / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["phone"] = display
    app.jinja_env.filters["masked"] = privacy.mask_phone  # W7: lists show numbers masked
    app.jinja_env.filters["mask_address"] = privacy.mask_address
    app.jinja_env.filters["mask_name"] = privacy.mask_name
    app.jinja_env.globals["current_locale"] = select_locale
    app.jinja_env.globals["department_name"] = department_name
    app.jinja_env.globals["request_path"] = lambda: request.full_path.rstrip("?")
