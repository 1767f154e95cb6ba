"""The scenario of a simulation: when it starts, what the case starts with, how long it runs
and what the scripted actors do.

A scenario is YAML::

    start: 2031-01-06T09:00:00+01:00      # date and time with zone
    variables: {service_name: ...}        # the case's start variables
    horizon: P10Y                         # ISO 8601 duration after start
    actions:
      - task: AnnualReport                # every task of this element ...
        after: P3W                        # ... completed this long after it opens
        payload: {year: 2031}
        actor: {org: NO-HSO, roles: [officer]}   # default: the task's first candidate
      - message: extend_referral_deadline
        at: 2031-03-02T10:00:00+01:00     # or after_start: P2M
        payload: {}

A scenario that does not fit raises `ScenarioError` naming the line and the field.

The simulation's clock starts at the present, so ``start`` must lie ahead. A scenario
written for a year that has passed runs moved by whole years (`Scenario.shift_years`,
``niva models simulate --shift-years N``): its start, its messages' ``at`` and every
ISO 8601 date or date-time among its variables and payloads move together, so write
expressions relative to them (``=year(date(approved_from)) + 9``, not ``=2040``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from process_models.errors import TimerSpecError
from process_models.timers import IsoDuration

__all__ = [
    "MessageAction",
    "Scenario",
    "ScenarioActor",
    "ScenarioError",
    "TaskAction",
    "load_scenario",
    "parse_scenario",
]


class ScenarioError(ValueError):
    """A scenario that cannot run: each problem as ``file:line: field: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _duration(value: Any) -> IsoDuration:
    if isinstance(value, IsoDuration):
        return value
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 duration such as P10W, P6M or P2Y is expected")
    try:
        return IsoDuration.parse(value)
    except TimerSpecError as exc:
        raise ValueError(str(exc)) from exc


Duration = Annotated[IsoDuration, BeforeValidator(_duration)]


class ScenarioActor(BaseModel):
    """Who acts: the organisation and roles the case checks against the candidates."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="simulation", description="The principal's name.")
    org: str | None = None
    roles: list[str] = Field(default_factory=list)


class TaskAction(BaseModel):
    """Complete every task of element ``task`` (or only the one of ``key``) ``after`` it
    opens."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, description="The user task's element id.")
    after: Duration = Field(description="How long after the task opens it is completed.")
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    actor: ScenarioActor | None = None
    key: str | None = Field(
        default=None, description="Only the multi-instance task of this key; all by default."
    )


class MessageAction(BaseModel):
    """Send message ``message`` to the case at a date or a while after the start."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, description="The message's name.")
    at: AwareDatetime | None = None
    after_start: Duration | None = None
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    actor: ScenarioActor | None = None

    @model_validator(mode="after")
    def _one_moment(self) -> Self:
        if (self.at is None) == (self.after_start is None):
            raise ValueError("give exactly one of 'at' (a date-time) or 'after_start'")
        return self


def _action_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "task" in value:
            return "task"
        if "message" in value:
            return "message"
        return None
    if isinstance(value, TaskAction):
        return "task"
    if isinstance(value, MessageAction):
        return "message"
    return None


Action = Annotated[
    Annotated[TaskAction, Tag("task")] | Annotated[MessageAction, Tag("message")],
    Discriminator(
        _action_kind,
        custom_error_type="action_kind",
        custom_error_message="an action names either a 'task' or a 'message'",
    ),
]


class Scenario(BaseModel):
    """One case of a model, scripted: see the module's docstring."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime = Field(description="When the case starts, with its zone.")
    horizon: Duration = Field(description="How long after the start the simulation ends.")
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    start_event: str | None = Field(
        default=None, description="A message start event to start at; the none start if unset."
    )
    business_key: str = Field(default="simulation", min_length=1)
    title: str = Field(default="Simulation", min_length=1)
    actions: list[Action] = Field(default_factory=list)

    @field_validator("horizon")
    @classmethod
    def _horizon_not_zero(cls, horizon: IsoDuration) -> IsoDuration:
        if horizon.is_zero:
            raise ValueError("the simulation needs a horizon longer than nothing")
        return horizon

    def shift_years(self, years: int) -> Scenario:
        """This scenario ``years`` whole years later: ``start``, the messages' ``at`` and
        every ISO 8601 date or date-time string among the variables and the payloads, each
        keeping its month, day, time and UTC offset (29 February becomes 28 February in a
        common year). Expressions (``=…``) stay as they are."""
        if years == 0:
            return self
        actions = [
            action.model_copy(
                update={
                    "payload": _shift_json(action.payload, years),
                    **(
                        {"at": _shift_datetime(action.at, years)}
                        if isinstance(action, MessageAction) and action.at is not None
                        else {}
                    ),
                }
            )
            for action in self.actions
        ]
        return self.model_copy(
            update={
                "start": _shift_datetime(self.start, years),
                "variables": _shift_json(self.variables, years),
                "actions": actions,
            }
        )

    def years_until_after(self, now: datetime) -> int:
        """The fewest whole years `shift_years` needs for ``start`` to lie after ``now``."""
        years = max(0, now.year - self.start.year)
        while _shift_datetime(self.start, years) <= now:
            years += 1
        return years


# --- moving a scenario by whole years --------------------------------------------------------

# A date (2031-01-01) or a date-time (2031-01-01T10:00:00+01:00) as the scenarios write them.
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


def _moved_day(year: int, month: int, day: int) -> int:
    """``day`` of ``month`` in ``year``, 29 February clamped to a common year's 28th."""
    return min(day, calendar.monthrange(year, month)[1])


def _shift_datetime(moment: datetime, years: int) -> datetime:
    year = moment.year + years
    return moment.replace(year=year, day=_moved_day(year, moment.month, moment.day))


def _shift_text(text: str, years: int) -> str:
    """``text`` moved ``years`` when it is an ISO 8601 date or date-time, else as it is."""
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        return text
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return text
    year = int(match[1]) + years
    day = _moved_day(year, int(match[2]), int(match[3]))
    return f"{year:04d}-{match[2]}-{day:02d}{text[10:]}"


def _shift_json(value: Any, years: int) -> Any:
    if isinstance(value, str):
        return _shift_text(value, years)
    if isinstance(value, list):
        return [_shift_json(item, years) for item in value]
    if isinstance(value, dict):
        return {key: _shift_json(item, years) for key, item in value.items()}
    return value


# --- reading YAML with line numbers ----------------------------------------------------------


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Record the line (1-based) of every mapping key and sequence item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            out[child] = key.start_mark.line + 1
            _lines(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            out[child] = item.start_mark.line + 1
            _lines(item, child, out)


def _line_of(loc: Sequence[Any], lines: Mapping[tuple[Any, ...], int]) -> int:
    """The line of the deepest place of ``loc`` the YAML has (a missing field: its parent)."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 1


# Pydantic puts an action's discriminator tag in the location ("actions", 0, "task",
# "after"); the YAML has no such level.
_TAGS = ("task", "message")


def parse_scenario(text: str, *, name: str = "scenario") -> Scenario:
    """The scenario in YAML ``text``.

    Raises:
        ScenarioError: the YAML does not parse or the scenario does not fit, with every
            problem as ``name:line: field: message``.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError([f"{name}:{line}: not YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ScenarioError([f"{name}:1: a scenario is a mapping (start, horizon, actions, …)"])
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = [p for i, p in enumerate(error["loc"]) if not (i == 2 and p in _TAGS)]
            field = ".".join(str(p) for p in loc) or "scenario"
            problems.append(f"{name}:{_line_of(loc, lines)}: {field}: {error['msg']}")
        raise ScenarioError(problems) from exc


def load_scenario(path: Path) -> Scenario:
    """The scenario in the YAML file ``path``.

    Raises:
        ScenarioError: as `parse_scenario`, or the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read the scenario: {exc}"]) from exc
    return parse_scenario(text, name=str(path))
