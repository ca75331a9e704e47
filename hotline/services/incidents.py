"""Incidents: one main break, many callers (事件与进展).

An incident is a case that callers' cases are merged into (its children:
``Case.parent_case_id``; the lifecycle's ``merge`` and ``join_incident``).
:func:`post_update` records what dispatch tells the callers (the cause, the
estimated time water is back, free text) in one transaction: an
:class:`~hotline.models.IncidentUpdate` row, and one ``incident_update`` event
in the history of the incident and of every open child, so each caller's
case shows it. After the commit it publishes one live notice through the
services' publisher (the board and the incident's people) and runs the work
the caller asked for (the operators' consoles, texts to the callers); none
of that can turn the saved update into an error.

When the incident reaches its follow-up or closes, ``hotline.services.actions``
moves each child to its own follow-up (P7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hotline.domain.lifecycle import OPEN_STATES, State
from hotline.domain.taxonomy import Role
from hotline.models import Case, IncidentUpdate
from hotline.services.access import Actor, can_view, lock_case
from hotline.services.audit import append_event
from hotline.services.context import Services

__all__ = [
    "INCIDENT_UPDATE",
    "MAX_CAUSE",
    "MAX_TEXT",
    "UPDATE_ROLES",
    "IncidentFacts",
    "UpdateView",
    "child_cases",
    "latest_updates",
    "list_updates",
    "open_incidents",
    "post_update",
]

#: The history event an update leaves on the incident and on each child.
INCIDENT_UPDATE = "incident_update"
#: Who posts updates: the dispatch center runs the incident.
UPDATE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})
MAX_CAUSE = 500
MAX_TEXT = 2000
#: An incident takes updates while it is open and not itself merged into another.
_UPDATABLE = OPEN_STATES - {State.MERGED, State.ANSWERED_ON_CALL, State.TRANSFERRED}
#: Children still open get the update in their history.
_OPEN = [str(s) for s in OPEN_STATES]


@dataclass(frozen=True)
class UpdateView:
    """One update as pages, the API and the console show it."""

    id: int
    incident: str
    cause: str
    estimated_restore_at: datetime | None
    text: str
    by_id: int
    by_name: str
    at: datetime
    children: int


@dataclass(frozen=True)
class IncidentFacts:
    """An open incident: where it is, how many callers joined, its latest update."""

    id: int
    number: str
    address: str
    problem: str
    state: str
    children: int
    latest: UpdateView | None


def _view(update: IncidentUpdate, number: str) -> UpdateView:
    return UpdateView(
        id=update.id,
        incident=number,
        cause=update.cause,
        estimated_restore_at=update.estimated_restore_at,
        text=update.text,
        by_id=update.by_id,
        by_name=update.by.display_name if update.by is not None else "",
        at=update.at,
        children=update.children,
    )


def _checked(
    cause: str, estimated_restore_at: datetime | None, text: str, now: datetime
) -> tuple[str, str]:
    cause, text = (cause or "").strip(), (text or "").strip()
    if len(cause) > MAX_CAUSE:
        raise Invalid("'cause' is at most %(limit)s characters", "cause", limit=MAX_CAUSE)
    if len(text) > MAX_TEXT:
        raise Invalid("'text' is at most %(limit)s characters", "text", limit=MAX_TEXT)
    if estimated_restore_at is not None:
        if estimated_restore_at.tzinfo is None:
            raise Invalid("'estimated_restore_at' needs its time zone", "estimated_restore_at")
        if estimated_restore_at <= now:
            raise Invalid(
                "'estimated_restore_at' must be ahead: when water is expected back",
                "estimated_restore_at",
            )
    if not cause and not text and estimated_restore_at is None:
        raise Invalid("an update needs a cause, an estimated restore time or a text", "text")
    return cause, text


def child_cases(session: Session, incident_id: int, *, lock: bool = False) -> list[Case]:
    """The open cases merged into the incident, oldest first."""
    query = (
        select(Case)
        .where(Case.parent_case_id == incident_id, Case.state.in_(_OPEN))
        .order_by(Case.id)
    )
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query))


def post_update(
    svc: Services,
    actor: Actor,
    parent_number: str,
    cause: str,
    estimated_restore_at: datetime | None,
    text: str,
    *,
    after: Iterable[tuple[str, Callable[[UpdateView], Any]]] = (),
) -> UpdateView:
    """Post an update on the incident ``parent_number``; every open child's history gets it.

    One transaction: the update row and one ``incident_update`` event per case
    (the incident and each open child), so all or none are written. After the
    commit, one live notice goes to the services' publisher, then each
    ``(kind, work)`` of ``after`` runs with the update (guarded: a failure is
    logged and counted, the update stays saved). Raises :class:`Forbidden`
    (not dispatch), :class:`NotFound`, :class:`Conflict` when the case is closed
    or merged itself, :class:`Invalid` naming the field.
    """
    if actor.role not in UPDATE_ROLES:
        raise Forbidden("role '%(role)s' may not post incident updates", role=actor.role)
    now = svc.now()
    cause, text = _checked(cause, estimated_restore_at, text, now)
    with svc.sessions() as session, session.begin():
        parent = lock_case(session, parent_number)
        if not can_view(actor, parent):
            raise NotFound("no case '%(number)s'", "case", number=parent_number)
        if State(parent.state) not in _UPDATABLE:
            raise Conflict(
                "case %(number)s is '%(state)s': only an open incident takes updates",
                "case",
                number=parent.number,
                state=State(parent.state),
            )
        children = child_cases(session, parent.id, lock=True)
        update = IncidentUpdate(
            case_id=parent.id,
            cause=cause,
            estimated_restore_at=estimated_restore_at,
            text=text,
            by_id=actor.id,
            at=now,
            children=len(children),
        )
        session.add(update)
        session.flush()
        data: dict[str, Any] = {
            "update_id": update.id,
            "incident": parent.number,
            "cause": cause,
            "estimated_restore_at": estimated_restore_at,
            "note": text,
        }
        event = append_event(
            session,
            parent,
            action=INCIDENT_UPDATE,
            from_state=parent.state,
            to_state=parent.state,
            actor_id=actor.id,
            at=now,
            data={**data, "children": [c.number for c in children]},
        )
        parent.updated_at = now
        if svc.text_checker is not None:  # G2, once: on the incident, where it was typed
            texts = [(k, v) for k, v in (("note", text), ("cause", cause)) if v]
            svc.text_checker(session, parent, event, texts, actor.id)
        for child in children:
            append_event(
                session,
                child,
                action=INCIDENT_UPDATE,
                from_state=child.state,
                to_state=child.state,
                actor_id=actor.id,
                at=now,
                data=data,
            )
            child.updated_at = now
        session.flush()
        view = _view(update, parent.number)
        payload = _notice(parent, view, [c.number for c in children])
    publish = svc.publish
    if publish is not None:
        svc.after_commit("live update", lambda: publish(payload))
    for kind, work in after:
        svc.after_commit(kind, lambda work=work: work(view))
    return view


def _notice(parent: Case, view: UpdateView, children: Sequence[str]) -> dict[str, Any]:
    """The live notice: a change of the incident (the board refreshes its card) with the update."""
    return {
        "case": parent.number,
        "action": INCIDENT_UPDATE,
        "state": str(parent.state),
        "category": str(parent.category),
        "due_at": parent.due_at.isoformat() if parent.due_at else None,
        "handler_department_id": parent.handler_department_id,
        "first_responder_id": parent.first_responder_id,
        "version": parent.version,
        "incident_update": notice_body(view),
        "children": list(children),
    }


def notice_body(view: UpdateView) -> dict[str, Any]:
    """An update as JSON-ready data (live notices, the console)."""
    return {
        "id": view.id,
        "incident": view.incident,
        "cause": view.cause,
        "estimated_restore_at": (
            view.estimated_restore_at.isoformat() if view.estimated_restore_at else None
        ),
        "text": view.text,
        "at": view.at.isoformat(),
    }


def list_updates(session: Session, actor: Actor, number: str) -> list[UpdateView]:
    """The updates of the incident ``number`` belongs to (itself, or the one it joined), oldest first."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_view(actor, case):
        raise NotFound("no case '%(number)s'", "case", number=number)
    incident = case.parent if case.parent_case_id is not None and case.parent else case
    rows = session.scalars(
        select(IncidentUpdate)
        .where(IncidentUpdate.case_id == incident.id)
        .order_by(IncidentUpdate.id)
    )
    return [_view(row, incident.number) for row in rows]


def latest_updates(session: Session, incident_ids: Iterable[int]) -> dict[int, UpdateView]:
    """The newest update of each incident in ``incident_ids`` that has one."""
    ids = set(incident_ids)
    if not ids:
        return {}
    newest = (
        select(func.max(IncidentUpdate.id))
        .where(IncidentUpdate.case_id.in_(ids))
        .group_by(IncidentUpdate.case_id)
    )
    rows = session.scalars(select(IncidentUpdate).where(IncidentUpdate.id.in_(newest))).all()
    numbers: Mapping[int, str] = {
        case_id: number
        for case_id, number in session.execute(select(Case.id, Case.number).where(Case.id.in_(ids)))
    }
    return {row.case_id: _view(row, numbers[row.case_id]) for row in rows}


def open_incidents(
    session: Session, *, ids: Iterable[int] = (), limit: int = 200
) -> list[IncidentFacts]:
    """Open incidents (open cases with callers merged in or updates posted), newest first.

    ``ids`` adds these cases (the incidents a caller's own cases joined)
    whatever they hold.
    """
    child = Case.__table__.alias("child")
    has_child = exists().where(child.c.parent_case_id == Case.id)
    has_update = exists().where(IncidentUpdate.case_id == Case.id)
    wanted = has_child | has_update
    extra = set(ids)
    if extra:
        wanted = wanted | Case.id.in_(extra)
    cases = session.scalars(
        select(Case)
        .where(Case.state.in_([str(s) for s in _UPDATABLE]), wanted)
        .order_by(Case.created_at.desc())
        .limit(limit)
    ).all()
    if not cases:
        return []
    counts: dict[int, int] = {
        parent_id: count
        for parent_id, count in session.execute(
            select(Case.parent_case_id, func.count())
            .where(Case.parent_case_id.in_([c.id for c in cases]))
            .group_by(Case.parent_case_id)
        )
    }
    latest = latest_updates(session, [c.id for c in cases])
    return [
        IncidentFacts(
            id=c.id,
            number=c.number,
            address=c.address,
            problem=c.problem,
            state=str(c.state),
            children=int(counts.get(c.id, 0)),
            latest=latest.get(c.id),
        )
        for c in cases
    ]
