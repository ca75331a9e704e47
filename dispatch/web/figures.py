"""The supervisor's figures page (统计报表): the figures a utility publishes.

``/figures`` shows each figure (``dispatch.domain.figures``) for a period
the user chooses, grouped by day, week, month, operator or department: a bar
chart drawn here as inline SVG, and under it the table with numerator and
denominator. ``/figures/wall`` shows today's figures in big type and
refreshes itself. ``/figures/<table>.csv`` and ``.xlsx`` download a table
with Chinese headers (the CSV with a UTF-8 byte-order mark so Excel reads
it), every text cell guarded against formula injection.

Only supervisors and administrators open them (403 otherwise); a period
that cannot be used answers 400 naming the field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from openpyxl import Workbook
from openpyxl.styles import Font

from dispatch.domain.figures import (
    Figure,
    FigureRow,
    FigureTable,
    Grouping,
    PeriodError,
    parse_grouping,
    parse_period,
)
from dispatch.services import reports
from hotline.domain.taxonomy import Role
from hotline.web import labels, privacy
from hotline.web.auth import roles_required
from hotline.web.refusals import refusal_text
from hotline.web.session import db_session, wiring

bp = Blueprint(
    "figures",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dispatch/figures-static",
)

#: Who reads the figures (监督; administrators read the reports too).
READERS = (Role.SUPERVISOR, Role.ADMIN)
#: Seconds between refreshes of the wall dashboard.
WALL_REFRESH_SECONDS = 60
#: What a cell may not start with in a download (a spreadsheet would run it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: The download formats.
DOWNLOAD_KINDS = ("csv", "xlsx")

TITLE = {
    Figure.ANSWERED: _l("接通率"),
    Figure.THREE_RINGS: _l("三声内接听率"),
    Figure.ON_TIME: _l("按时办结率"),
    Figure.FOLLOW_UP: _l("回访率"),
    Figure.SATISFACTION: _l("满意率"),
    Figure.FIRST_CONTACT: _l("一次解决率"),
    Figure.REPEAT_72H: _l("72小时重复来电率"),
}
NUMERATOR = {
    Figure.ANSWERED: _l("接通来电"),
    Figure.THREE_RINGS: _l("三声内接听"),
    Figure.ON_TIME: _l("按时完成环节"),
    Figure.FOLLOW_UP: _l("已回访工单"),
    Figure.SATISFACTION: _l("满意及基本满意"),
    Figure.FIRST_CONTACT: _l("一次解决"),
    Figure.REPEAT_72H: _l("72小时内再次来电"),
}
DENOMINATOR = {
    Figure.ANSWERED: _l("呼入来电"),
    Figure.THREE_RINGS: _l("接通来电"),
    Figure.ON_TIME: _l("已判定环节"),
    Figure.FOLLOW_UP: _l("应回访工单"),
    Figure.SATISFACTION: _l("已回访工单"),
    Figure.FIRST_CONTACT: _l("新诉求来电"),
    Figure.REPEAT_72H: _l("接通的来电"),
}
GROUPING = {
    Grouping.DAY: _l("按日"),
    Grouping.WEEK: _l("按周"),
    Grouping.MONTH: _l("按月"),
    Grouping.OPERATOR: _l("按话务员"),
    Grouping.DEPARTMENT: _l("按部门"),
}
GROUP_HEADER = {
    Grouping.DAY: _l("日期"),
    Grouping.WEEK: _l("周(周一)"),
    Grouping.MONTH: _l("月份"),
    Grouping.OPERATOR: _l("话务员"),
    Grouping.DEPARTMENT: _l("部门"),
}
NOBODY = {
    Figure.ANSWERED: _l("未接通"),
}


# -- what the page shows --------------------------------------------------------------


def group_label(figure: Figure, row: FigureRow) -> str:
    """The text of a row's group (the group with nobody named for the figure)."""
    if row.key == "":
        return str(NOBODY.get(figure, _l("(未指定)")))
    return row.label


def percent_text(row_or_ratio: Any) -> str:
    ratio = getattr(row_or_ratio, "ratio", row_or_ratio)
    value = ratio.percent
    return "—" if value is None else f"{value:.1f}%"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    show_label: bool
    value: str
    title: str


@dataclass(frozen=True)
class Chart:
    """A bar chart of one figure's rates, laid out for an SVG ``viewBox``."""

    width: int
    height: int
    top: int
    bottom: int
    left: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]


CHART_WIDTH = 760
CHART_HEIGHT = 240


def chart(figure: Figure, table: FigureTable) -> Chart:
    """Bars of each row's rate (0–100 %); a row with nothing counted has no bar."""
    top, bottom, left, right = 16, 48, 40, 8
    plot_w = CHART_WIDTH - left - right
    plot_h = CHART_HEIGHT - top - bottom
    rows = table.rows
    slot = plot_w / max(len(rows), 1)
    width = max(min(slot * 0.7, 48), 2)
    every = max(1, round(len(rows) / 12 + 0.49))
    bars = []
    for i, row in enumerate(rows):
        rate = row.ratio.rate or 0.0
        height = plot_h * rate
        label = group_label(figure, row)
        if len(label) == 10 and label[4] == "-":  # a day: 11-26
            label = label[5:]
        bars.append(
            Bar(
                x=round(left + i * slot + (slot - width) / 2, 1),
                y=round(top + plot_h - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label=label[:12],
                show_label=i % every == 0,
                value=percent_text(row) if row.ratio.denominator and len(rows) <= 16 else "",
                title=f"{group_label(figure, row)}: {row.ratio.numerator}/"
                f"{row.ratio.denominator} ({percent_text(row)})",
            )
        )
    ticks = [(round(top + plot_h * (1 - p / 100), 1), f"{p}%") for p in (0, 50, 100)]
    return Chart(CHART_WIDTH, CHART_HEIGHT, top, bottom, left, bars, ticks)


# -- the request ------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    start: date
    end: date
    grouping: Grouping

    def args(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "by": self.grouping}


def _today() -> date:
    svc = wiring()
    return svc.now().astimezone(svc.timezone).date()


def _query() -> Query:
    """The period and grouping asked for; raises :class:`PeriodError` naming the field."""
    args = request.args
    start, end = parse_period(args.get("from"), args.get("to"), _today())
    return Query(start, end, parse_grouping(args.get("by")))


def _ring_limit() -> float:
    """The three-ring limit in seconds (call flows' ``ring_limit_seconds``)."""
    flows = current_app.extensions.get("callflows")
    return float(getattr(flows, "ring_limit_seconds", 15.0))


def _english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def _report(query: Query, *, english: bool) -> dict[Figure, FigureTable]:
    svc = wiring()
    return reports.figures_report(
        db_session(),
        start_day=query.start,
        end_day=query.end,
        grouping=query.grouping,
        tz=svc.timezone,
        now=svc.now(),
        ring_limit_seconds=_ring_limit(),
        english=english,
    )


def _page_context() -> dict[str, Any]:
    return {
        "Figure": Figure,
        "Grouping": Grouping,
        "TITLE": TITLE,
        "NUMERATOR": NUMERATOR,
        "DENOMINATOR": DENOMINATOR,
        "GROUPING": GROUPING,
        "GROUP_HEADER": GROUP_HEADER,
        "group_label": group_label,
        "percent_text": percent_text,
        "download_endpoint": download_endpoint,
        "stage_label": lambda stage: labels.label(labels.STAGE, stage),
        "ring_limit": _ring_limit(),
    }


@bp.route("/figures")
@roles_required(*READERS)
def page() -> Any:
    """The figures of the period, each a chart with its table under it."""
    try:
        query = _query()
    except PeriodError as exc:
        today = _today()
        return (
            render_template(
                "dispatch/figures.html",
                error=exc,
                form=request.args,
                query=Query(today, today, Grouping.DAY),
                tables={},
                charts={},
                **_page_context(),
            ),
            400,
        )
    tables = _report(query, english=_english())
    return render_template(
        "dispatch/figures.html",
        error=None,
        form=query.args(),
        query=query,
        tables=tables,
        charts={figure: chart(figure, table) for figure, table in tables.items()},
        **_page_context(),
    )


@bp.route("/figures/wall")
@roles_required(*READERS)
def wall() -> Any:
    """Today's figures in big type for a wall screen; the page reloads itself."""
    today = _today()
    tables = _report(Query(today, today, Grouping.DAY), english=_english())
    return render_template(
        "dispatch/figures_wall.html",
        tables=tables,
        today=today,
        refresh=WALL_REFRESH_SECONDS,
        **_page_context(),
    )


# -- downloads ----------------------------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """A download cell: numbers stay numbers; text that a spreadsheet would run as a
    formula (starting with = + - @, a tab or a carriage return) gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def table_rows(figure: Figure, table: FigureTable, grouping: Grouping) -> list[list[Any]]:
    """A table as rows of cells, its header first (Chinese when built under zh_CN)."""
    with_stage = figure == Figure.ON_TIME
    header = [str(GROUP_HEADER[grouping])]
    if with_stage:
        header.append(str(_l("环节")))
    header += [str(NUMERATOR[figure]), str(DENOMINATOR[figure]), str(_l("比率")) + "(%)"]
    out: list[list[Any]] = [header]

    def line(label: str, stage: str, row_ratio: Any) -> list[Any]:
        cells: list[Any] = [label]
        if with_stage:
            cells.append(stage)
        return [*cells, row_ratio.numerator, row_ratio.denominator, row_ratio.percent]

    all_stages = str(_l("全部环节"))
    for row in table.rows:
        out.append(line(group_label(figure, row), all_stages, row.ratio))
        for detail in table.details:
            if detail.key == row.key:
                out.append(
                    line(
                        group_label(figure, detail),
                        labels.label(labels.STAGE, detail.detail),
                        detail.ratio,
                    )
                )
    out.append(line(str(_l("合计")), all_stages, table.total))
    return [[safe_cell(cell) for cell in r] for r in out]


def _csv(rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx(title: str, rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    for r in rows:
        sheet.append(list(r))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r in sheet.iter_rows(min_row=2):
        for cell in r:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text stays text, whatever it starts with
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def download(figure: Figure, kind: str) -> Any:
    """One figure's table as CSV (UTF-8 with BOM) or Excel, with Chinese headers."""
    try:
        query = _query()
    except PeriodError as exc:
        abort(400, description=f"{exc.field}: {refusal_text(exc)}")
    with force_locale("zh_CN"):
        tables = _report(query, english=False)
        rows = table_rows(figure, tables[figure], query.grouping)
        title = str(TITLE[figure])
    stem = f"{figure.value}_{query.start:%Y%m%d}-{query.end:%Y%m%d}_{query.grouping}"
    # W7: every export is logged (the figures hold counts, no personal data), before it leaves.
    privacy.log_view(current_user.id, "export", f"{stem}.{kind}")
    if kind == "csv":
        body, mime = _csv(rows), "text/csv; charset=utf-8"
    else:
        body = _xlsx(title, rows)
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(
        io.BytesIO(body), mimetype=mime, as_attachment=True, download_name=f"{stem}.{kind}"
    )


def download_endpoint(figure: Figure, kind: str) -> str:
    """The endpoint of a figure's download (``figures.<figure>_<kind>``)."""
    return f"figures.{figure.value}_{kind}"


def _download_view(figure: Figure, kind: str) -> Any:
    @roles_required(*READERS)
    def view() -> Any:
        return download(figure, kind)

    view.__name__ = f"{figure.value}_{kind}"
    view.__doc__ = f"{figure.value} as {kind} (统计报表下载)."
    return view


# One plain route per table and kind: /figures/answered.csv, /figures/answered.xlsx, …
for _figure in Figure:
    for _kind in DOWNLOAD_KINDS:
        bp.add_url_rule(
            f"/figures/{_figure.value}.{_kind}",
            endpoint=f"{_figure.value}_{_kind}",
            view_func=_download_view(_figure, _kind),
        )
