"""What operators see of a case: search attributes and the current details.

Both are derived from the state after every change. Search attributes are upserted only
when their value changed (each upsert is a history event), and hold ids and dates, never
personal data. The details are Markdown for the Web UI's case page.
"""

from __future__ import annotations

from datetime import datetime

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from workflows import search_attributes as sa
from workflows.candidates import candidate_keys, describe
from workflows.contract import OpenTask
from workflows.interpreter import Interpreter

__all__ = ["details_markdown", "jurisdiction", "open_tasks", "search_attribute_updates"]

_MAX_TASK_LINES = 25

AttributeValue = str | bool | datetime | list[str] | None


def jurisdiction(process_id: str) -> str:
    """``SE``/``NO`` from the process id's prefix, else ``-``."""
    prefix = process_id.split("_", 1)[0].upper()
    return prefix if prefix in ("SE", "NO") else "-"


def open_tasks(interpreter: Interpreter) -> list[OpenTask]:
    """The open user tasks in the shape the API and queries show."""
    return [
        OpenTask(
            task_id=a.id,
            element_id=a.element_id,
            name=a.name,
            candidates=candidate_keys(a.candidate_groups, a.candidate_orgs),
            created=a.created,
            due=a.due,
            form_key=a.form_key,
        )
        for a in interpreter.open_tasks()
    ]


def _values(interpreter: Interpreter) -> dict[str, AttributeValue]:
    state = interpreter.state
    tasks = interpreter.open_tasks()
    candidates: list[str] = []
    for task in tasks:
        for key in candidate_keys(task.candidate_groups, task.candidate_orgs):
            if key not in candidates:
                candidates.append(key)
    dues = [t.due for t in tasks if t.due is not None]
    return {
        sa.PROCESS_ID.name: state.process_id,
        sa.PROCESS_VERSION.name: str(state.version),
        sa.BUSINESS_KEY.name: state.business_key,
        sa.JURISDICTION.name: jurisdiction(state.process_id),
        sa.OPEN_TASKS.name: [t.id for t in tasks],
        sa.CANDIDATES.name: candidates,
        sa.PARTICIPANTS.name: list(state.participants),
        sa.NEXT_DEADLINE.name: min(dues) if dues else None,
        sa.INCIDENT.name: bool(state.incidents),
        sa.OUTCOME.name: state.outcome if state.ended else None,
    }


def search_attribute_updates(
    interpreter: Interpreter, published: dict[str, AttributeValue]
) -> list[SearchAttributeUpdate]:  # type: ignore[type-arg]
    """Updates for the attributes whose value changed since ``published`` (which is
    updated in place to the new values)."""
    keys: dict[str, SearchAttributeKey] = {k.name: k for k in sa.ALL}  # type: ignore[type-arg]
    updates: list[SearchAttributeUpdate] = []  # type: ignore[type-arg]
    for name, value in _values(interpreter).items():
        if name in published and published[name] == value:
            continue
        published[name] = value
        key = keys[name]
        if value is None or value == []:
            updates.append(key.value_unset())
        else:
            updates.append(key.value_set(value))
    return updates


def details_markdown(interpreter: Interpreter) -> str:
    """The case page's "current details": open tasks, deadlines, incidents, waits."""
    state = interpreter.state
    lines = [f"**{state.title}** — `{state.process_id}` version {state.version}"]
    if state.ended:
        lines.append(f"\nEnded: **{state.outcome}**")
    tasks = interpreter.open_tasks()
    if tasks:
        lines.append(f"\n**Open tasks ({len(tasks)})**")
        for task in tasks[:_MAX_TASK_LINES]:
            due = f", due {task.due:%Y-%m-%d %H:%M} UTC" if task.due else ""
            who = describe(task.candidate_groups, task.candidate_orgs)
            lines.append(f"- `{task.id}` {task.name or task.element_id} — {who}{due}")
        if len(tasks) > _MAX_TASK_LINES:
            lines.append(f"- … and {len(tasks) - _MAX_TASK_LINES} more")
    running = [a for a in state.activities.values() if a.kind not in ("userTask",)]
    if running:
        lines.append("\n**Running**")
        for activity in running[:_MAX_TASK_LINES]:
            progress = ""
            if activity.multi is not None:
                total = len(activity.multi.keys)
                progress = f" — {activity.multi.completed} of {total} done"
            lines.append(f"- {activity.name or activity.element_id}{progress}")
    if state.incidents:
        lines.append("\n**Incidents**")
        for incident in state.incidents.values():
            lines.append(f"- `{incident.id}` at `{incident.element_id}`: {incident.message}")
    messages = interpreter.accepted_messages()
    if messages:
        lines.append("\n**Accepts messages:** " + ", ".join(f"`{m}`" for m in messages))
    timer = interpreter.next_timer()
    if timer is not None:
        node = interpreter.model.node(timer.element_id)
        lines.append(
            f"\n**Next timer:** {node.name or node.id} at {timer.fire_at:%Y-%m-%d %H:%M} UTC"
        )
    return "\n".join(lines)
