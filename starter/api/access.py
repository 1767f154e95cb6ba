"""What a principal may read and do.

- Completing a task or sending a message: only its candidates (`workflows.candidates`),
  checked by the case's update validator, so a refused request never reaches the history.
  A message nothing waits for yet is checked against the candidates the model declares
  for it, and again when it is delivered. An idempotency key is its first user's: another
  principal repeating it is refused (403).
- Starting a case: the process's ``niva:starters``; without one, the agencies; operators
  always (`starter.api.routes.instances`).
- Deploying models needs the role ``modeler``; cancelling cases and retrying incidents
  need ``operator``.
- Reading: the agencies (``ApiSettings.agency_orgs``) and auditors read every case; any
  other organisation reads the cases it started, is or was a candidate in, or completed a
  task in (``NivaParticipants``), and those with an open task it may complete. Sending a
  message grants no reading. A case the caller may not read answers 404, as if it did not
  exist.
- Auditors never change anything: every mutating route answers them 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from starter.api.auth import Principal
from starter.api.errors import ApiError, translate
from workflows.candidates import may_act
from workflows.contract import InstanceView, OpenTask

__all__ = [
    "MODELER_ROLE",
    "OPERATOR_ROLE",
    "can_read",
    "candidate_rule",
    "forbid_auditor",
    "forbid_reading",
    "hidden_case",
    "hiding_refusal",
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
    users = [key.removeprefix("user:") for key in task.candidates if key.startswith("user:")]
    groups, orgs = candidate_rule(k for k in task.candidates if not k.startswith("user:"))
    return may_act(principal, groups, orgs, users)


def principal_keys(principal: Principal) -> list[str]:
    """The ``NivaCandidates`` keywords that name ``principal``."""
    keys = [f"group:{role}" for role in principal.roles]
    if principal.org:
        keys.insert(0, f"org:{principal.org}")
        keys += [f"org:{principal.org}/group:{role}" for role in principal.roles]
    # A task may name its candidates by subject (workflows.candidates).
    keys.append(f"user:{principal.subject}")
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
    """The 404 for a case the principal takes no part in: the same answer as for a case
    that does not exist, so a principal learns nothing of cases it may not read."""
    return hidden_case(instance_id)


def hidden_case(instance_id: str) -> ApiError:
    """The one 404 of a case that does not exist or that the caller may not read."""
    return ApiError(404, "not_found", f"no such instance: {instance_id}")


_REFUSALS = (403, 404, 409)
"""The refusals a principal who may not read the case never sees: it gets the 404."""


def hiding_refusal(exc: BaseException, instance_id: str) -> ApiError | None:
    """`hidden_case`'s 404 in place of a refusal (``exc``) that would tell a principal who
    may not read the case something of it; None for any other error."""
    error = translate(exc)
    if error is not None and error.status_code in _REFUSALS:
        return hidden_case(instance_id)
    return None
