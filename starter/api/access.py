"""What a principal may read and do.

- Completing a task or sending a message: only its candidates (`workflows.candidates`).
  The API checks before it sends the update, so a refused request never reaches the case;
  the case's own validator checks again.
- Deploying models needs the role ``modeler``; cancelling cases and retrying incidents
  need ``operator``.
- Reading: the agencies (``ApiSettings.agency_orgs``) and auditors read every case; any
  other organisation reads the cases it started, is or was a candidate in, or completed a
  task in (``NivaParticipants``), and those with an open task it may complete.
- Auditors never change anything: every mutating route answers them 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from starter.api.auth import Principal
from starter.api.errors import ApiError
from workflows.candidates import may_act
from workflows.contract import InstanceView, OpenTask

__all__ = [
    "MODELER_ROLE",
    "OPERATOR_ROLE",
    "can_read",
    "candidate_rule",
    "forbid_auditor",
    "forbid_reading",
    "may_complete",
    "principal_keys",
    "require_role",
    "sees_all",
]

MODELER_ROLE = "modeler"
OPERATOR_ROLE = "operator"


def candidate_rule(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """The groups and organisations behind a task's ``candidates`` keywords.

    The inverse of `workflows.candidates.candidate_keys`: ``org:O/group:G`` keys come from
    a task with both groups and organisations, ``group:G`` and ``org:O`` from a task with
    only one kind; no keys, from a task anyone may complete.
    """
    groups: list[str] = []
    orgs: list[str] = []
    for key in keys:
        parts = key.split("/group:", 1) if key.startswith("org:") else [key]
        if len(parts) == 2:
            org, group = parts[0].removeprefix("org:"), parts[1]
        elif key.startswith("org:"):
            org, group = key.removeprefix("org:"), None
        else:
            org, group = None, key.removeprefix("group:")
        if org is not None and org not in orgs:
            orgs.append(org)
        if group is not None and group not in groups:
            groups.append(group)
    return groups, orgs


def may_complete(principal: Principal, task: OpenTask) -> bool:
    """Whether ``principal`` is a candidate of ``task`` (auditors never are)."""
    if principal.is_auditor:
        return False
    groups, orgs = candidate_rule(task.candidates)
    return may_act(principal, groups, orgs)


def principal_keys(principal: Principal) -> list[str]:
    """The ``NivaCandidates`` keywords that name ``principal``."""
    keys = [f"group:{role}" for role in principal.roles]
    if principal.org:
        keys.insert(0, f"org:{principal.org}")
        keys += [f"org:{principal.org}/group:{role}" for role in principal.roles]
    return keys


def sees_all(principal: Principal, agency_orgs: Iterable[str]) -> bool:
    """Agencies and auditors read every case."""
    return principal.is_auditor or (principal.org is not None and principal.org in agency_orgs)


def can_read(principal: Principal, view: InstanceView, agency_orgs: Iterable[str]) -> bool:
    """Whether ``principal`` may read the case shown by ``view``."""
    if sees_all(principal, agency_orgs):
        return True
    if principal.org is not None and principal.org in view.participants:
        return True
    return any(may_complete(principal, task) for task in view.open_tasks)


def forbid_auditor(principal: Principal, action: str) -> None:
    """403 for an auditor: auditors read, they never change a case or a model."""
    if principal.is_auditor:
        raise ApiError(403, "forbidden", f"{principal.subject} is an auditor and may not {action}")


def require_role(principal: Principal, role: str, action: str) -> None:
    """403 unless ``principal`` holds ``role`` (and is no auditor)."""
    forbid_auditor(principal, action)
    if role not in principal.roles:
        raise ApiError(
            403,
            "forbidden",
            f"{principal.subject} may not {action}: that needs the role {role!r} "
            f"(roles held: {', '.join(principal.roles) or 'none'})",
        )


def forbid_reading(principal: Principal, instance_id: str) -> ApiError:
    """The 403 for a case the principal takes no part in."""
    org = principal.org or "no organisation"
    return ApiError(
        403,
        "forbidden",
        f"{principal.subject} ({org}) may not read {instance_id}: the organisation takes no "
        "part in it",
    )
