"""What operators see of a case: search attributes and the current details.

Both are derived from the state after every change. Search attributes are upserted only
when their value changed (each upsert is a history event), and hold ids and dates, never
personal data. The details are Markdown for the Web UI's case page.

``NivaOpenTasks`` lists the open tasks by id (``Decision``, ``ReferralResponse:SE-AB``) and
each multi-instance task by its element id too (``ReferralResponse``).

Temporal refuses a search-attribute value over 2 KB, and terminates the case that upserts
one. So the keyword lists are bounded (`bounded_list`): when a case holds more open tasks,
candidates or participants than fit, the list keeps what the documented operator queries
need most (element ids for ``NivaOpenTasks``, roles for ``NivaCandidates``), then as many
full entries as fit, and ends with `TRUNCATED`.

``NivaMessageSubscriptions`` lists the subscriptions waiting with a correlation key
(`search_attributes.subscription_entry`, words separated by spaces), which is how
``POST /messages`` finds the cases a message is for. A case that never held one never
upserts it, so histories recorded before it replay unchanged; when a case holds more than
fit, it ends with `search_attributes.SUBSCRIPTIONS_TRUNCATED` and the publisher asks that
case too. ``NivaSignalSubscriptions`` lists the signals the case waits for in the same way
(`search_attributes.signal_entry`), which is how a broadcast finds the cases it is for.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from service_contract import JobRouting
from workflows import search_attributes as sa
from workflows.candidates import candidate_keys, describe
from workflows.contract import JobView, OpenTask
from workflows.interpreter import CORRELATION_KEYS_PATCH, Interpreter
from workflows.state import Activity, Timer

__all__ = [
    "MAX_LIST_BYTES",
    "TRUNCATED",
    "bounded_list",
    "details_markdown",
    "diagram_link",
    "jurisdiction",
    "open_tasks",
    "pending_jobs",
    "search_attribute_updates",
]

_MAX_TASK_LINES = 25
_MAX_KEYS = 8

MAX_LIST_BYTES = 1_900
"""The most bytes one keyword-list search attribute takes as JSON (Temporal: 2 KB)."""
TRUNCATED = "~more"
"""The last entry of a keyword list that was cut to fit: query ``NivaOpenTasks = "~more"``
for the cases whose lists are partial."""

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
            candidates=candidate_keys(a.candidate_groups, a.candidate_orgs, a.candidate_users),
            created=a.created,
            due=a.due,
            form_key=a.form_key,
        )
        for a in interpreter.open_tasks()
    ]


def pending_jobs(interpreter: Interpreter, jobs: JobRouting | None) -> list[JobView]:
    """The service tasks whose activity runs as a job (`JobRouting.is_job`) and is on the
    job workers' queue: started, not held back by the in-flight limit, not in an incident.

    The workflow cannot tell whether a worker has taken the job yet; Temporal's pending
    activity can. A case started before job workers carries no routing and has none.
    """
    if jobs is None:
        return []
    held = {effect.activity_id for effect in interpreter.state.held}
    return [
        JobView(
            task_id=a.id,
            element_id=a.element_id,
            name=a.name,
            type=a.task_type,
            task_queue=jobs.task_queue,
            created=a.created,
        )
        for a in interpreter.state.activities.values()
        if a.task_type is not None
        and a.status == "active"
        and a.id not in held
        and jobs.is_job(a.task_type)
    ]


def _list_bytes(values: list[str]) -> int:
    return len(json.dumps(values, ensure_ascii=False).encode())


def bounded_list(values: list[str], *, coarse: list[str] | None = None) -> list[str]:
    """``values`` without repeats, as long as they fit in `MAX_LIST_BYTES`.

    When they do not fit: first ``coarse`` (a shorter summary of the same entries, e.g.
    element ids for task ids), then the entries of ``values`` that still fit, in order, and
    `TRUNCATED` last. A list that fits is returned unchanged, so cases within the bound
    upsert exactly what they always did.
    """
    unique = list(dict.fromkeys(values))
    if _list_bytes(unique) <= MAX_LIST_BYTES:
        return unique
    budget = MAX_LIST_BYTES - _list_bytes([TRUNCATED])
    kept: list[str] = []
    used = 0  # n entries take their JSON strings, n - 1 separators and two brackets
    for value in [*dict.fromkeys(coarse or []), *unique]:
        cost = _list_bytes([value]) - len("[]") + len(", ")
        if value in kept or used + cost > budget:
            continue
        kept.append(value)
        used += cost
    return [*kept, TRUNCATED]


def _roles(keys: list[str]) -> list[str]:
    """The roles of candidate keys (``org:SE-AB/group:officer`` -> ``group:officer``):
    what remains findable when a case has more candidates than fit; organisations stay
    findable through ``NivaParticipants``, which holds every candidate organisation."""
    return [key.rsplit("/", 1)[-1] for key in keys if "group:" in key]


def _message_subscriptions(
    interpreter: Interpreter, published: dict[str, AttributeValue]
) -> dict[str, AttributeValue]:
    """``NivaMessageSubscriptions`` when the case holds (or held) a keyed subscription (None
    when it holds none now); nothing for a case that never did (it keeps the commands it
    always issued)."""
    entries = [
        sa.subscription_entry(s.message_name, s.correlation_key)
        for s in interpreter.state.subscriptions.values()
        if s.correlation_key is not None
    ]
    name = sa.MESSAGE_SUBSCRIPTIONS.name
    if not entries and name not in published:
        return {}
    if not interpreter.patched(CORRELATION_KEYS_PATCH):
        return {}
    return {name: _digest_words(entries)}


def _signal_subscriptions(
    interpreter: Interpreter, published: dict[str, AttributeValue]
) -> dict[str, AttributeValue]:
    """``NivaSignalSubscriptions`` when the case waits (or waited) for a signal (None when
    it waits for none now); nothing for a case that never did."""
    entries = [
        sa.signal_entry(s.signal_name) for s in interpreter.state.signal_subscriptions.values()
    ]
    name = sa.SIGNAL_SUBSCRIPTIONS.name
    if not entries and name not in published:
        return {}
    return {name: _digest_words(entries)}


def _digest_words(entries: list[str]) -> str | None:
    """A text attribute of digests: the entries without repeats, separated by spaces, cut
    to fit 2 KB and then ending with `search_attributes.SUBSCRIPTIONS_TRUNCATED`; None for
    none."""
    words = bounded_list(entries)
    if words and words[-1] == TRUNCATED:
        words[-1] = sa.SUBSCRIPTIONS_TRUNCATED
    return " ".join(words) or None


def _values(interpreter: Interpreter) -> dict[str, AttributeValue]:
    state = interpreter.state
    tasks = interpreter.open_tasks()
    candidates: list[str] = []
    for task in tasks:
        for key in candidate_keys(task.candidate_groups, task.candidate_orgs, task.candidate_users):
            if key not in candidates:
                candidates.append(key)
    dues = [t.due for t in tasks if t.due is not None]
    return {
        sa.PROCESS_ID.name: state.process_id,
        sa.PROCESS_VERSION.name: str(state.version),
        sa.BUSINESS_KEY.name: state.business_key,
        sa.JURISDICTION.name: jurisdiction(state.process_id),
        # A multi-instance task is also listed by its element id, so that
        # NivaOpenTasks = "ReferralResponse" finds a case waiting for any region's answer.
        sa.OPEN_TASKS.name: bounded_list(
            [t.id for t in tasks] + [t.element_id for t in tasks if t.parent_activity],
            coarse=[t.element_id for t in tasks],
        ),
        sa.CANDIDATES.name: bounded_list(candidates, coarse=_roles(candidates)),
        sa.PARTICIPANTS.name: bounded_list(list(state.participants)),
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
    values = (
        _values(interpreter)
        | _message_subscriptions(interpreter, published)
        | _signal_subscriptions(interpreter, published)
    )
    for name, value in values.items():
        if name in published and published[name] == value:
            continue
        published[name] = value
        key = keys[name]
        if value is None or value == []:
            updates.append(key.value_unset())
        else:
            updates.append(key.value_set(value))
    return updates


def _moment(at: datetime, tz: ZoneInfo) -> str:
    """A deadline as people read it: local date, and the time unless it is the end of a
    day (a date-only deadline falls due at the following midnight)."""
    local = at.astimezone(tz)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


def _deadline(interpreter: Interpreter, *owners: str | None) -> Timer | None:
    """The earliest interrupting boundary timer armed on one of ``owners``: when it closes."""
    model = interpreter.model
    timers = [
        t
        for t in interpreter.state.timers.values()
        if t.owner in owners and model.node(t.element_id).cancel_activity
    ]
    return min(timers, key=lambda t: t.fire_at) if timers else None


def _moved(interpreter: Interpreter, timer: Timer | None) -> str:
    """`` (moved from 2031-03-01, not a working day)`` when the process's working-day
    calendar moved the timer, else nothing."""
    if timer is None or interpreter.model.calendar is None:
        return ""
    nominal = interpreter.nominal_fire_at(timer)
    if nominal is None or nominal == timer.fire_at:
        return ""
    return f" (moved from {_moment(nominal, interpreter.model.tz)}, not a working day)"


def _multi_line(interpreter: Interpreter, body: Activity) -> str:
    """``Remiss: 15 of 21 answered, closes 2027-05-18 — waiting for SE-AB, SE-C``."""
    multi = body.multi
    assert multi is not None
    node = interpreter.model.node(body.element_id)
    verb = "answered" if node.kind == "userTask" else "done"
    line = f"- **{body.name or body.element_id}**: {multi.completed} of {len(multi.keys)} {verb}"
    deadline = _deadline(interpreter, body.id)
    if deadline is not None:
        line += f", closes {_moment(deadline.fire_at, interpreter.model.tz)}"
        line += _moved(interpreter, deadline)
    if body.status == "incident":
        line += " (incident)"
    waiting = [
        a.key or a.id for a in interpreter.state.activities.values() if a.parent_activity == body.id
    ]
    if waiting:
        shown = ", ".join(f"`{k}`" for k in waiting[:_MAX_KEYS])
        more = f" and {len(waiting) - _MAX_KEYS} more" if len(waiting) > _MAX_KEYS else ""
        line += f" — waiting for {shown}{more}"
    return line


def _task_line(interpreter: Interpreter, task: Activity) -> str:
    """``- `Decide` Decision — role officer in organisation SE-SOS, due 2027-06-01``."""
    due = f", due {_moment(task.due, interpreter.model.tz)}" if task.due else ""
    if task.due:
        due += _moved(interpreter, _deadline(interpreter, task.id, task.parent_activity))
    who = describe(task.candidate_groups, task.candidate_orgs, task.candidate_users)
    incident = " (incident)" if task.status == "incident" else ""
    return f"- `{task.id}` {task.name or task.element_id} — {who}{due}{incident}"


def diagram_link(api_url: str | None, workflow_id: str) -> str | None:
    """A Markdown link to the case's diagram page (``GET /instances/{id}/diagram``) on the
    API at ``api_url``; None without one (only the configuration knows where the API is)."""
    if not api_url:
        return None
    page = f"{api_url.rstrip('/')}/instances/{quote(workflow_id, safe=':')}/diagram"
    return f"[Diagram of the case]({page})"


def details_markdown(
    interpreter: Interpreter, *, diagram: str | None = None, jobs: JobRouting | None = None
) -> str:
    """The case page's "current details": where the case stands and what it waits for.

    Multi-instance activities read as progress (``Remiss: 15 of 21 answered, closes
    2027-05-18``), the other open tasks one per line with their candidates and due date
    (in the process's time zone), then other running work (a service task that runs as a
    job with its job type and the task queue where a job worker must take it, ``jobs``
    being the case's routing), incidents, accepted messages and the next timer. Only ids,
    element names, job types, counts and dates: never variables or
    payloads, which may hold personal data. A pure function of the state, so it is
    deterministic inside the workflow. ``diagram`` (`diagram_link`) ends the details.
    """
    state = interpreter.state
    tz = interpreter.model.tz
    lines = [f"**{state.title}** — `{state.process_id}` version {state.version}"]
    if state.ended:
        lines.append(f"\nEnded: **{state.outcome}**")
    activities = list(state.activities.values())
    bodies = [a for a in activities if a.multi is not None]
    if bodies:
        lines.append("\n**In progress**")
        lines.extend(_multi_line(interpreter, body) for body in bodies[:_MAX_TASK_LINES])
    # Instances of a multi-instance body are summed up in its progress line above.
    single = [t for t in interpreter.open_tasks() if t.parent_activity is None]
    if single:
        lines.append(f"\n**Open tasks ({len(single)})**")
        lines.extend(_task_line(interpreter, task) for task in single[:_MAX_TASK_LINES])
        if len(single) > _MAX_TASK_LINES:
            lines.append(f"- … and {len(single) - _MAX_TASK_LINES} more")
    running = [
        a
        for a in activities
        if a.kind != "userTask" and a.multi is None and a.parent_activity is None
    ]
    if running:
        lines.append("\n**Running**")
        waiting = {job.task_id: job for job in pending_jobs(interpreter, jobs)}
        for activity in running[:_MAX_TASK_LINES]:
            parked = " (incident)" if activity.status == "incident" else ""
            job = waiting.get(activity.id)
            on_queue = (
                f" — job `{job.type}` for a job worker on task queue `{job.task_queue}`"
                if job is not None
                else ""
            )
            lines.append(f"- {activity.name or activity.element_id}{on_queue}{parked}")
    if state.incidents:
        lines.append("\n**Incidents**")
        for incident in list(state.incidents.values())[:_MAX_TASK_LINES]:
            lines.append(
                f"- `{incident.id}` at `{incident.element_id}` ({incident.kind}): "
                f"{incident.message}"
            )
    messages = interpreter.accepted_messages()
    if messages:
        lines.append("\n**Accepts messages:** " + ", ".join(f"`{m}`" for m in messages))
    signals = interpreter.waiting_signals()
    if signals:
        lines.append("\n**Waits for signals:** " + ", ".join(f"`{s}`" for s in signals))
    timer = interpreter.next_timer()
    if timer is not None:
        node = interpreter.model.node(timer.element_id)
        lines.append(
            f"\n**Next timer:** {node.name or node.id} at {_moment(timer.fire_at, tz)}"
            + _moved(interpreter, timer)
        )
    if not state.ended and len(lines) == 1:
        lines.append("\nWorking: no open task, timer or message.")
    lines.append(f"\n_Times in {tz.key}._")
    if diagram is not None:
        lines.append(f"\n{diagram}")
    return "\n".join(lines)
