"""What every server-rendered page shares, and the registration of hotline's pages.

The pages themselves live by concept: each role's home and the contact form
(:mod:`hotline.web.homes`), the case page and its forms
(:mod:`hotline.web.cases`), staff accounts (:mod:`hotline.web.admin`); the
dispatch board is ``dispatch.web.board``. Here: the person acting, one page
of cases with their countdowns, the context every template gets (the top
bar's links among it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, request
from flask_login import current_user

from hotline import services
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role
from hotline.services import Actor, CaseFilter
from hotline.services import staff as staff_service
from hotline.web import labels, viewmodels
from hotline.web.forms import page_number
from hotline.web.session import db_session, wiring

if TYPE_CHECKING:
    from hotline.models import Department, Staff


def actor() -> Actor:
    """The person logged in, as the services know them."""
    return Actor.of(current_user)


def departments() -> list[Department]:
    """Every department, in the order they were set up."""
    return staff_service.departments(db_session())


def staff_list(*roles: Role) -> list[Staff]:
    """Active staff (of these roles, if any are given), by name."""
    return staff_service.active_staff(db_session(), *roles)


def case_rows(session: Any, cases: list[Any], now: Any) -> list[viewmodels.CaseRow]:
    """``cases`` with their countdowns, from their open stage clocks (one query)."""
    clocks = services.open_clocks(session, cases)
    return viewmodels.with_countdowns(cases, clocks, now, wiring().policy.calendar)


def page_of_cases(flt: CaseFilter, per_page: int = 25) -> viewmodels.CaseListing:
    """The page of cases the query string asks for (``page``: 1..MAX_PAGE, else 422)."""
    page = page_number(request.args.get("page"))
    now = wiring().now()
    session = db_session()
    cases, total = services.list_cases(session, actor(), flt, now=now, page=page, per_page=per_page)
    return viewmodels.CaseListing(
        cases=cases,
        items=case_rows(session, cases, now),
        total=total,
        page=page,
        per_page=per_page,
    )


def common() -> dict[str, Any]:
    """What the case lists and the case page show besides their own: labels, now, states."""
    return {"labels": labels, "now": wiring().now(), "State": State, "Role": Role}


def _page_context() -> dict[str, Any]:
    """Every template's: the top bar's links for the person logged in, and the labels."""
    role = current_user.role if current_user and current_user.is_authenticated else None
    return {"nav": viewmodels.nav_links(role, labels.PAGE), "labels": labels}


def init_app(app: Flask) -> None:
    """Bind hotline's pages to ``app``: the homes, the case page, staff accounts."""
    from hotline.web import access_log, admin, audit_page, cases, homes, public_status

    app.register_blueprint(access_log.bp)
    app.register_blueprint(homes.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(audit_page.bp)
    app.register_blueprint(public_status.bp)
    app.context_processor(_page_context)
