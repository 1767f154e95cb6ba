"""Timer start events as Temporal Schedules.

A process whose start event has a timer (``R/2027-03-01/P1Y``: every 1 March) is started by
a Temporal Schedule, one per timer start event, with id ``niva:<process_id>:<start event>``.
`sync_schedules` makes the schedules match the latest deployed version of every process:
it creates the missing ones, updates those whose timing or model changed (so a redeploy
takes effect), and deletes those whose start event the latest version no longer has.

The timer becomes a schedule spec:

- a cycle with a calendar period (``P1Y``, ``P3M``) and a start: a calendar spec on the
  start's month/day/time in the process's zone (every year on that day);
- a cycle with an exact period (``PT12H``, ``P1D``, ``P2W``): an interval from its start;
- ``R<n>/…``: at most ``n`` starts; a date (``timeDate``): one start at that instant;
- a cron cycle (``0 0 9 * * MON-FRI``): a calendar spec of its fields in the process's zone
  (validation refuses ``L``, ``W`` and ``#`` here, which a calendar spec cannot express).

Each scheduled case gets the business key ``<start event>-<time>`` that Temporal appends to
the action's workflow id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from process_models.deployments import ModelStore
from process_models.expressions import compile_expression, is_expression
from process_models.schema import FlowNode
from process_models.timers import TimerSpec, parse_datetime, parse_timer
from starter.settings import LimitSettings, WorkerSettings
from workflows.contract import StartInstanceInput

__all__ = ["schedule_id", "schedule_spec", "sync_schedules", "timer_start_schedules"]

log = structlog.get_logger("niva.schedules")
_PREFIX = "niva:"
_LAST_YEAR = 2100
"""The last year a Temporal calendar spec may name."""


def schedule_id(process_id: str, start_event_id: str) -> str:
    """The schedule of one timer start event."""
    return f"{_PREFIX}{process_id}:{start_event_id}"


def _timer(node: FlowNode, tz: ZoneInfo, reference: dict[str, object]) -> TimerSpec:
    for definition in node.event_definitions:
        timer = definition.timer
        if timer is None:
            continue
        kind, value = timer
        text = value.body.strip()
        if is_expression(text):
            # Evaluated once, at deployment: a schedule cannot follow case variables.
            text = str(
                compile_expression(text, element_id=node.id).evaluate(
                    {},
                    now=datetime.now(UTC),
                    tz=tz,
                    reference=reference,  # type: ignore[arg-type]
                )
            )
        names = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}
        return parse_timer(names[kind], text, element_id=node.id)  # type: ignore[arg-type]
    raise ValueError(f"{node.id} has no timer")


def schedule_spec(
    spec: TimerSpec, tz: ZoneInfo, *, now: datetime
) -> tuple[ScheduleSpec, int | None]:
    """The schedule spec of a timer, and how many starts it allows (None: no limit)."""
    zone = str(tz)
    if spec.kind == "date":
        assert spec.at is not None
        at = parse_datetime(spec.at, tz).astimezone(tz)
        return ScheduleSpec(calendars=[_calendar(at, year=True)], time_zone_name=zone), 1
    if spec.cron is not None:
        cron = spec.cron
        calendar = ScheduleCalendarSpec(
            second=[ScheduleRange(v) for v in cron.seconds],
            minute=[ScheduleRange(v) for v in cron.minutes],
            hour=[ScheduleRange(v) for v in cron.hours],
            day_of_month=[ScheduleRange(v) for v in sorted(cron.days_of_month)],
            month=[ScheduleRange(v) for v in sorted(cron.months)],
            day_of_week=[ScheduleRange(v) for v in sorted(cron.days_of_week)],
        )
        return ScheduleSpec(calendars=[calendar], time_zone_name=zone), None
    assert spec.duration is not None
    if spec.kind == "duration":
        at = (now + spec.duration.exact).astimezone(tz)
        return ScheduleSpec(calendars=[_calendar(at, year=True)], time_zone_name=zone), 1
    start: datetime | None = None
    if spec.at:
        # A cycle's date-only start is the start of that day (a deadline's is its end).
        start = parse_datetime(spec.at, tz) if "T" in spec.at else _start_of_day(spec.at, tz)
    period = spec.duration
    if period.calendar_months:
        anchor = (start or now).astimezone(tz)
        months = period.calendar_months
        calendar = _calendar(anchor, year=False)
        if months % 12 == 0:
            calendar = ScheduleCalendarSpec(
                second=calendar.second,
                minute=calendar.minute,
                hour=calendar.hour,
                day_of_month=calendar.day_of_month,
                month=calendar.month,
                # Temporal takes years up to 2100 only; a later year would refuse the spec.
                year=[ScheduleRange(anchor.year, _LAST_YEAR, months // 12)],
            )
        else:
            calendar = ScheduleCalendarSpec(
                second=calendar.second,
                minute=calendar.minute,
                hour=calendar.hour,
                day_of_month=calendar.day_of_month,
                month=[ScheduleRange(m) for m in range(1, 13) if (m - anchor.month) % months == 0],
            )
        spec_out = ScheduleSpec(calendars=[calendar], start_at=start, time_zone_name=zone)
    else:
        every = period.exact + timedelta(days=period.calendar_days)
        offset = timedelta(0)
        if start is not None:
            offset = timedelta(seconds=start.timestamp() % every.total_seconds())
        spec_out = ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=every, offset=offset)],
            start_at=start,
            time_zone_name=zone,
        )
    return spec_out, spec.repetitions


def _start_of_day(day: str, tz: ZoneInfo) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=tz)


def _calendar(at: datetime, *, year: bool) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(
        second=[ScheduleRange(at.second)],
        minute=[ScheduleRange(at.minute)],
        hour=[ScheduleRange(at.hour)],
        day_of_month=[ScheduleRange(at.day)],
        month=[ScheduleRange(at.month)],
        year=[ScheduleRange(at.year)] if year else [],
    )


def timer_start_schedules(store: ModelStore) -> list[str]:
    """The ids of the schedules the latest deployed versions want (no Temporal needed)."""
    wanted = []
    for model in store.latest():
        process = store.definitions(model).process(model.process_id)
        if process is None:
            continue
        wanted += [
            schedule_id(model.process_id, start.id)
            for start in process.start_events()
            if "timer" in start.event_kinds()
        ]
    return sorted(wanted)


def _deployed_schedules(store: ModelStore) -> list[str]:
    """The schedule ids of the timer start events of every deployed version."""
    return [
        schedule_id(process_id, start.id)
        for process_id in store.process_ids()
        for model in store.versions(process_id)
        if (process := store.definitions(model).process(process_id)) is not None
        for start in process.start_events()
        if "timer" in start.event_kinds()
    ]


async def sync_schedules(client: Client, store: ModelStore, *, task_queue: str) -> list[str]:
    """Create, update and delete schedules to match the latest deployed versions.

    Returns the ids of the schedules that exist afterwards.
    """
    wanted: dict[str, Schedule] = {}
    now = datetime.now(UTC)
    limits = LimitSettings().engine_limits()
    jobs = WorkerSettings().job_routing(store.registry.task_types)
    for model in store.latest():
        source = store.source(model.process_id)
        process = store.definitions(model).process(model.process_id)
        if process is None:
            continue
        tz = ZoneInfo(model.timezone)
        for start in process.start_events():
            if "timer" not in start.event_kinds():
                continue
            spec, limit = schedule_spec(_timer(start, tz, dict(model.reference)), tz, now=now)
            workflow_id = f"{model.process_id}:{start.id}"
            action = ScheduleActionStartWorkflow(
                model.process_id,
                StartInstanceInput(
                    model=source,
                    business_key="",
                    title=f"{start.name or start.id}",
                    start_event=start.id,
                    limits=limits,
                    jobs=jobs,
                ),
                id=workflow_id,
                task_queue=task_queue,
                static_summary=f"{model.name or model.process_id}: {start.name or start.id}",
            )
            wanted[schedule_id(model.process_id, start.id)] = Schedule(
                action=action,
                spec=spec,
                state=ScheduleState(
                    note=f"{model.key} ({model.content_hash[:12]})",
                    limited_actions=limit is not None,
                    remaining_actions=limit or 0,
                ),
            )
    # The list comes from visibility, which lags: a schedule created a moment ago may not be
    # in it yet. Those of every deployed version's timer start events are asked for by id.
    existing = {s.id async for s in await client.list_schedules() if s.id.startswith(_PREFIX)}
    existing |= set(_deployed_schedules(store))
    for sid in sorted(existing - set(wanted)):
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        log.info("schedule removed", schedule=sid)
    for sid, schedule in wanted.items():
        try:
            await client.create_schedule(sid, schedule)
            log.info("schedule created", schedule=sid)
        except ScheduleAlreadyRunningError:
            handle = client.get_schedule_handle(sid)
            description = await handle.describe()
            if description.schedule.state.note == schedule.state.note:
                continue

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await handle.update(replace)
            log.info("schedule updated", schedule=sid)
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(wanted)
