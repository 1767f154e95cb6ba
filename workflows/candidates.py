"""Who may complete a task or send a message: candidate groups and organisations.

- only groups: any principal holding one of the groups;
- only organisations: any principal of one of them;
- both: a principal holding one of the groups *in* one of the organisations;
- neither: any authenticated principal.

Candidate users (a Camunda 8 task's ``assignee`` or ``candidateUsers``) name principals by
subject: such a principal is a candidate whatever the rule above says, and a task with
candidate users and neither groups nor organisations is for them alone.

The ``NivaCandidates`` search attribute encodes the same rule as keywords an operator (or
the API) can match: ``group:officer``, ``org:SE-AB``, ``org:SE-AB/group:officer``, and
``user:SUBJECT``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

__all__ = ["Actor", "candidate_keys", "describe", "may_act"]


class Actor(BaseModel):
    """The principal behind a request, as the API authenticated it."""

    subject: str
    org: str | None = None
    roles: list[str] = Field(default_factory=list)


def may_act(actor: Actor, groups: list[str], orgs: list[str], users: Sequence[str] = ()) -> bool:
    """True when ``actor`` is a candidate under the rule above."""
    if users and actor.subject in users:
        return True
    if users and not groups and not orgs:
        return False
    in_group = not groups or any(role in groups for role in actor.roles)
    in_org = not orgs or actor.org in orgs
    return in_group and in_org


def candidate_keys(groups: list[str], orgs: list[str], users: Sequence[str] = ()) -> list[str]:
    """The search-attribute keywords of one task's candidates."""
    named = [f"user:{user}" for user in users]
    if groups and orgs:
        return [f"org:{org}/group:{group}" for org in orgs for group in groups] + named
    return [f"group:{g}" for g in groups] + [f"org:{o}" for o in orgs] + named


def describe(groups: list[str], orgs: list[str], users: Sequence[str] = ()) -> str:
    """Candidates in words, for error messages and details."""
    if not groups and not orgs:
        return "user " + " or ".join(users) if users else "anyone"
    if users:
        return f"{describe(groups, orgs)}, or user " + " or ".join(users)
    parts = []
    if groups:
        parts.append("role " + " or ".join(groups))
    if orgs:
        parts.append("organisation " + " or ".join(orgs))
    return " in ".join(parts)
