"""The department proposed for a case (派单建议), from the routing rules.

``config/routing.toml`` (``hotline.domain.routing``) names departments by code;
this turns the proposal for a case's category and area into the department
row, or nothing when no rule matches or the code names no department. The
proposal is offered while the dispatch center holds the case; the dispatcher
confirms it or picks another.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain import lifecycle
from hotline.domain.lifecycle import State
from hotline.domain.routing import Proposal, RoutingRules
from hotline.models import Case, Department
from hotline.services.context import Services
from hotline.settings import shipped_path


@lru_cache(maxsize=1)
def shipped_rules() -> RoutingRules:
    """The routing rules the product ships (``config/routing.toml``), read once."""
    return RoutingRules.load(shipped_path("config/routing.toml"))


def rules_of(svc: Services | None) -> RoutingRules:
    """The routing rules the services were given, else the shipped ones."""
    rules = getattr(svc, "routing", None)
    return rules if isinstance(rules, RoutingRules) else shipped_rules()


@dataclass(frozen=True)
class ProposedDepartment:
    """A department proposed for a case and the rule that chose it."""

    department: Department
    proposal: Proposal

    @property
    def why(self) -> str:
        return self.proposal.why


def proposed_department(
    session: Session, svc: Services | None, case: Case, *, any_state: bool = False
) -> ProposedDepartment | None:
    """The department the rules propose for ``case`` while dispatch holds it.

    ``any_state``: propose whatever the case's state (for a re-dispatch).
    """
    if not any_state and State(case.state) not in lifecycle.DISPATCH_QUEUE:
        return None
    proposal = rules_of(svc).propose(case.category, case.area)
    if proposal is None:
        return None
    department = session.scalar(select(Department).where(Department.code == proposal.department))
    return ProposedDepartment(department, proposal) if department is not None else None
