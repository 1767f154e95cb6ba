"""Executable BPMN models drawn by hypothesis from every element niva runs.

A model is drawn as a tree of blocks, each with one way in and one way out: a user task
(possibly compensable, with a user task as its compensation handler), a service task, a
script task, a business rule task, a wait (timer, message, signal or conditional catch,
receive task), a link throw and its catch, an escalation or compensation throw, an
exclusive choice (whose branches may also end, terminate, throw a BPMN error or end in an
escalation), a parallel fork, an inclusive fork and join, an event-based race, an embedded
subprocess, a call activity. Activities carry boundary events (timer by duration or cycle,
message, conditional, error; escalation on subprocesses; interrupting or not) and
multi-instance loops (parallel or sequential, with or without a completion condition and an
output collection); the process and its subprocesses carry event subprocesses (timer,
message, error, escalation and conditional starts, interrupting or not). Built that way,
every model is well formed: every node is reachable and every path ends.

`render` writes the tree as one BPMN document holding the process and, when it calls one,
a second generated process (the child) deployed alongside. Everything a model reads is in
its start variables: ``items`` (the multi-instance collection), ``g<n>`` (what the choice
``Choice<n>`` tests, 0 at first; a payload of 1 or 2 takes branch 1 or 2),
``b_<service task id>`` (what the service task does: ``ok``, ``fail``, or ``error:<code>``;
an operator's retry can set it to ``ok``), ``c<n>`` (a computed timer cycle), ``k<n>``
(the list the condition of branch 1 of ``Choice<n>`` iterates over, twice nested), ``v<n>``
(what a conditional event waits to be at least 1) and ``v<n>_<i>`` (1 takes branch ``i``
of ``Inclusive<n>``), all 0 at first and set by payloads like ``g<n>``, and ``employees``
(the input of the decision the business rule tasks call, `DECISION` in
`tests.support.dmn.FEES`, which is deployed with the models).

Timers last seconds (the cases run in real time). Some models cross the limits a case runs
under (`LIMITS`, small so that crossing them is cheap): a collection of more than
`LIMITS.max_multi_instance` items, a computed cycle shorter than `LIMITS.min_cycle_seconds`,
a condition over a list long enough to cost more than `LIMITS.expression_cost`. Each such
crossing is an incident (``limit`` or ``expression``) that `RenderedModel.incident_kinds`
allows for that model only, and `RenderedModel.repairs` says how an operator's retry fixes
it.

`generated_service` is the activity behind the ``generated`` task type those service tasks
use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from hypothesis import strategies as st
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.service_call import bpmn_error
from process_models.limits import EngineLimits
from service_contract import ServiceCall

__all__ = [
    "DECISION",
    "DEPLOY_MIN_CYCLE_SECONDS",
    "ERROR_CODES",
    "ESCALATION_CODES",
    "LIMITS",
    "TASK_TYPE",
    "Boundary",
    "Call",
    "Choice",
    "Compensate",
    "Condition",
    "Escalate",
    "EventSubprocess",
    "Fork",
    "GeneratedModel",
    "Inclusive",
    "Link",
    "Multi",
    "Process",
    "Race",
    "RenderedModel",
    "Rule",
    "Script",
    "ServiceTask",
    "SubProcess",
    "UserTask",
    "Wait",
    "generated_models",
    "generated_service",
    "render",
]

TASK_TYPE = "generated"
DECISION = "applicant_category"
"""The decision the business rule tasks call (in `tests.support.dmn.FEES`)."""
ERROR_CODES = ("E1", "E2")
LIMITS = EngineLimits(max_multi_instance=2, min_cycle_seconds=2, expression_cost=1_000)
"""The limits generated cases run under: small, so that crossing one is cheap."""
DEPLOY_MIN_CYCLE_SECONDS = 2
"""The shortest literal cycle the generated models use (their store must allow it)."""
_SHORT_CYCLE = "R/PT1S"
"""A computed cycle below `LIMITS.min_cycle_seconds`: an ``expression`` incident."""
_REPAIRED_CYCLE = "R2/PT2S"
_COSTLY = list(range(50))
"""50² steps for two nested comprehensions: more than `LIMITS.expression_cost`."""
_CHEAP = [0, 1]

TimerSpec: TypeAlias = tuple[Literal["timeDuration", "timeCycle"], str]
Trigger = Literal["timer", "message", "error", "escalation", "condition"]
ESCALATION_CODES = ("LATE", "COST")


# --- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Boundary:
    """A boundary event on an activity, and the path that leaves it (to an end event)."""

    trigger: Trigger
    interrupting: bool = True
    timer: TimerSpec = ("timeDuration", "P1D")
    message: int = 0
    error_code: str | None = None
    then: tuple[Block, ...] = ()
    rejoin: bool = False
    """Interrupting only: the path goes on after the activity instead of ending (in a
    parallel branch it must, or the join would wait for ever)."""


@dataclass(frozen=True)
class Multi:
    """Multi-instance over ``items``; ``output`` names what each instance contributes."""

    sequential: bool = False
    completion: bool = False
    output: Literal["none", "locals", "item", "payload", "result"] = "none"


@dataclass(frozen=True)
class UserTask:
    boundaries: tuple[Boundary, ...] = ()
    multi: Multi | None = None
    compensable: bool = False
    """With a compensation boundary event and a user task as its handler."""


@dataclass(frozen=True)
class ServiceTask:
    behaviour: str = "ok"
    boundaries: tuple[Boundary, ...] = ()
    multi: Multi | None = None


@dataclass(frozen=True)
class Wait:
    """An intermediate timer, message or signal catch event, or a receive task."""

    trigger: Literal["timer", "message", "receive", "signal"] = "timer"
    timer: TimerSpec = ("timeDuration", "P1D")
    message: int = 0


@dataclass(frozen=True)
class Choice:
    """An exclusive gateway on ``g<n>``: branch 0 is the default and always goes on; a
    later branch may instead end (``end``), terminate, or throw ``error:<code>``."""

    branches: tuple[tuple[tuple[Block, ...], str], ...] = (((), "continue"), ((), "continue"))
    costly: bool = False
    """Whether the list branch 1's condition iterates over is too long to evaluate."""


@dataclass(frozen=True)
class Inclusive:
    """An inclusive gateway: branch ``i`` is taken when ``v<n>_<i>`` is 1 (a payload sets
    it), the default flow (straight to the join) when none is; the join waits only for
    the tokens that can still arrive."""

    branches: tuple[tuple[Block, ...], ...] = ((), ())


@dataclass(frozen=True)
class Script:
    """A script task computing a variable from the start variables."""


@dataclass(frozen=True)
class Rule:
    """A business rule task calling the ``applicant_category`` decision of
    `tests.support.dmn.FEES` (deployed with every generated model) on ``employees``."""


@dataclass(frozen=True)
class Link:
    """A link throw event and the catch event it jumps to."""


@dataclass(frozen=True)
class Escalate:
    """An intermediate escalation throw event; the path goes on (caught or not)."""

    code: str = "LATE"


@dataclass(frozen=True)
class Condition:
    """A conditional intermediate catch event waiting for ``v<n>`` to be at least 1 (a
    payload of a task completion or message sets it)."""


@dataclass(frozen=True)
class Compensate:
    """An intermediate compensation throw: every completed compensable activity of the
    scope runs its handler (a user task), the last completed first."""


@dataclass(frozen=True)
class Fork:
    branches: tuple[tuple[Block, ...], ...] = ((), ())


@dataclass(frozen=True)
class Race:
    """An event-based gateway between a message and a timer."""

    timer: TimerSpec = ("timeDuration", "P1D")
    message: int = 0
    on_message: tuple[Block, ...] = ()
    on_timer: tuple[Block, ...] = ()


@dataclass(frozen=True)
class EventSubprocess:
    trigger: Trigger
    interrupting: bool = True
    timer: TimerSpec = ("timeDuration", "P1D")
    message: int = 0
    error_code: str | None = None
    body: tuple[Block, ...] = ()


@dataclass(frozen=True)
class SubProcess:
    body: tuple[Block, ...] = ()
    handlers: tuple[EventSubprocess, ...] = ()
    boundaries: tuple[Boundary, ...] = ()
    multi: Multi | None = None


@dataclass(frozen=True)
class Call:
    """A call activity starting the model's child process (attached)."""

    boundaries: tuple[Boundary, ...] = ()
    multi: Multi | None = None


Block: TypeAlias = (
    UserTask
    | ServiceTask
    | Wait
    | Choice
    | Fork
    | Race
    | SubProcess
    | Call
    | Inclusive
    | Script
    | Rule
    | Link
    | Escalate
    | Condition
    | Compensate
)


@dataclass(frozen=True)
class Process:
    body: tuple[Block, ...]
    handlers: tuple[EventSubprocess, ...] = ()


@dataclass(frozen=True)
class GeneratedModel:
    """A process, the child process its call activities start (if any), and the
    multi-instance collection it starts with."""

    main: Process
    child: Process | None = None
    items: tuple[str, ...] = ("a", "b")


# --- drawing ------------------------------------------------------------------------------

_DURATIONS = ("PT1S", "PT2S", "PT3S")
_CYCLES = ("R2/PT2S", "R/PT3S", f"={_REPAIRED_CYCLE}", f"={_SHORT_CYCLE}")
"""Literal cycles, and cycles computed from a variable (``=`` and its value)."""
_BEHAVIOURS = ("ok", "fail", "error:E1", "error:E2")


@dataclass
class _Budget:
    """Roughly how many more nodes a model may have (kept between 5 and 25)."""

    nodes: int

    def take(self, cost: int) -> bool:
        if cost > self.nodes:
            return False
        self.nodes -= cost
        return True


def _timer(draw: Callable[..., Any], *, cycle: bool) -> TimerSpec:
    if cycle and draw(st.booleans()):
        return ("timeCycle", draw(st.sampled_from(_CYCLES)))
    return ("timeDuration", draw(st.sampled_from(_DURATIONS)))


def _boundaries(
    draw: Callable[..., Any],
    budget: _Budget,
    *,
    can_throw: bool,
    in_fork: bool,
    escalates: bool = False,
) -> tuple[Boundary, ...]:
    result = []
    for _ in range(draw(st.integers(0, 2))):
        if not budget.take(2):
            break
        triggers: list[Trigger] = ["timer", "message", "condition"]
        if can_throw:
            triggers.append("error")
        if escalates:
            triggers.append("escalation")
        trigger = draw(st.sampled_from(triggers))
        interrupting = True if trigger == "error" else draw(st.booleans())
        then = _blocks(draw, budget, depth=2, allow_call=False, most=1, in_fork=in_fork)
        rejoin = interrupting and (in_fork or draw(st.booleans()))
        result.append(
            Boundary(
                trigger=trigger,
                interrupting=interrupting,
                rejoin=rejoin,
                timer=_timer(draw, cycle=not interrupting),
                message=draw(st.integers(0, 3)),
                error_code=draw(st.sampled_from((None, *_codes(trigger)))),
                then=then,
            )
        )
    return tuple(result)


def _codes(trigger: Trigger) -> tuple[str, ...]:
    return ESCALATION_CODES if trigger == "escalation" else ERROR_CODES


def _multi(draw: Callable[..., Any], *, outputs: tuple[str, ...]) -> Multi | None:
    if draw(st.integers(0, 3)) != 0:  # one activity in four is multi-instance
        return None
    return Multi(
        sequential=draw(st.booleans()),
        completion=draw(st.booleans()),
        output=draw(st.sampled_from(("none", "locals", "item", *outputs))),
    )


def _handlers(draw: Callable[..., Any], budget: _Budget) -> tuple[EventSubprocess, ...]:
    result = []
    for _ in range(draw(st.integers(0, 2))):
        if not budget.take(3):
            break
        trigger: Trigger = draw(
            st.sampled_from(("timer", "message", "error", "escalation", "condition"))
        )
        # An error start is always interrupting (BPMN).
        interrupting = True if trigger == "error" else draw(st.booleans())
        result.append(
            EventSubprocess(
                trigger=trigger,
                interrupting=interrupting,
                timer=_timer(draw, cycle=not interrupting),
                message=draw(st.integers(0, 3)),
                error_code=draw(st.sampled_from((None, *_codes(trigger)))),
                body=_blocks(draw, budget, depth=2, allow_call=False, most=1),
            )
        )
    return tuple(result)


_KINDS = (
    "user",
    "service",
    "wait",
    "choice",
    "fork",
    "race",
    "sub",
    "call",
    "inclusive",
    "script",
    "rule",
    "link",
    "escalate",
    "condition",
    "compensate",
)
_LEAVES = ("user", "service", "wait", "call", "script", "rule", "link", "escalate", "condition")


def _block(
    draw: Callable[..., Any], budget: _Budget, depth: int, allow_call: bool, in_fork: bool
) -> Block:
    kinds = [k for k in _KINDS if allow_call or k != "call"]
    if depth >= 2:
        kinds = [k for k in kinds if k in _LEAVES]
    kind = draw(st.sampled_from(kinds))
    if kind == "service":
        return ServiceTask(
            behaviour=draw(st.sampled_from(_BEHAVIOURS)),
            boundaries=_boundaries(draw, budget, can_throw=True, in_fork=in_fork),
            multi=_multi(draw, outputs=("result",)),
        )
    if kind == "wait":
        return Wait(
            trigger=draw(st.sampled_from(("timer", "message", "receive", "signal"))),
            timer=_timer(draw, cycle=False),
            message=draw(st.integers(0, 3)),
        )
    if kind == "choice" and budget.take(2):
        branches: list[tuple[tuple[Block, ...], str]] = [
            (_blocks(draw, budget, depth + 1, allow_call, most=2, in_fork=in_fork), "continue")
        ]
        # In a parallel branch a plain end would leave the join waiting for ever.
        ends = ("continue", "terminate", "error:E1", "error:E2")
        # An escalation end ends its path like a plain end (caught or not).
        ends_here = (*ends, "end", *(f"escalation:{c}" for c in ESCALATION_CODES))
        for _ in range(draw(st.integers(1, 2))):
            end = draw(st.sampled_from(ends if in_fork else ends_here))
            branches.append(
                (_blocks(draw, budget, depth + 1, allow_call, most=2, in_fork=in_fork), end)
            )
        return Choice(branches=tuple(branches), costly=draw(st.integers(0, 7)) == 0)
    if kind == "fork" and budget.take(2):
        count = draw(st.integers(2, 3))
        return Fork(
            branches=tuple(
                _blocks(draw, budget, depth + 1, allow_call, most=2, in_fork=True)
                for _ in range(count)
            )
        )
    if kind == "inclusive" and budget.take(2):
        count = draw(st.integers(1, 3))
        return Inclusive(
            branches=tuple(
                _blocks(draw, budget, depth + 1, allow_call, most=2, in_fork=True)
                for _ in range(count)
            )
        )
    if kind == "script":
        return Script()
    if kind == "rule":
        return Rule()
    if kind == "link" and budget.take(1):
        return Link()
    if kind == "escalate":
        return Escalate(code=draw(st.sampled_from(ESCALATION_CODES)))
    if kind == "condition":
        return Condition()
    if kind == "compensate":
        return Compensate()
    if kind == "race" and budget.take(4):
        return Race(
            timer=_timer(draw, cycle=False),
            message=draw(st.integers(0, 3)),
            on_message=_blocks(draw, budget, depth + 1, allow_call, most=1, in_fork=in_fork),
            on_timer=_blocks(draw, budget, depth + 1, allow_call, most=1, in_fork=in_fork),
        )
    if kind == "sub" and budget.take(2):
        body = _blocks(draw, budget, depth + 1, allow_call, most=3, in_fork=False)
        return SubProcess(
            body=body or (UserTask(),),
            handlers=_handlers(draw, budget),
            boundaries=_boundaries(draw, budget, can_throw=True, in_fork=in_fork, escalates=True),
            multi=_multi(draw, outputs=()),
        )
    if kind == "call":
        return Call(
            boundaries=_boundaries(draw, budget, can_throw=False, in_fork=in_fork),
            multi=_multi(draw, outputs=()),
        )
    return UserTask(
        boundaries=_boundaries(draw, budget, can_throw=False, in_fork=in_fork),
        multi=_multi(draw, outputs=("payload",)),
        compensable=draw(st.integers(0, 2)) == 0 and budget.take(1),
    )


def _blocks(
    draw: Callable[..., Any],
    budget: _Budget,
    depth: int,
    allow_call: bool,
    most: int,
    *,
    in_fork: bool = False,
) -> tuple[Block, ...]:
    blocks = []
    for _ in range(draw(st.integers(0, most))):
        if not budget.take(1):
            break
        block = _block(draw, budget, depth, allow_call, in_fork)
        blocks.append(block)
        # A compensation throw right after a compensable task, often enough to see both.
        if isinstance(block, UserTask) and block.compensable and draw(st.integers(0, 3)):
            blocks.append(Compensate())
    return tuple(blocks)


def _process(draw: Callable[..., Any], budget: _Budget, *, allow_call: bool) -> Process:
    handlers = _handlers(draw, budget) if draw(st.booleans()) else ()
    body = _blocks(draw, budget, depth=0, allow_call=allow_call, most=4)
    if not body:
        body = (UserTask(),)
    return Process(body=body, handlers=handlers)


@st.composite
def generated_models(draw: Callable[..., Any], *, max_nodes: int = 25) -> GeneratedModel:
    """A model of at most about ``max_nodes`` nodes (start and end events included) and,
    when it has a call activity, the child process it calls."""
    main = _process(draw, _Budget(max_nodes - 2), allow_call=True)
    child = None
    if _calls(main.body) or any(_calls(h.body) for h in main.handlers):
        child = _process(draw, _Budget(8), allow_call=False)
    # Three items are more than LIMITS.max_multi_instance.
    items = tuple(draw(st.lists(st.sampled_from("abc"), max_size=3, unique=True)))
    return GeneratedModel(main=main, child=child, items=items)


def _calls(blocks: tuple[Block, ...]) -> bool:
    for block in blocks:
        if isinstance(block, Call):
            return True
        if isinstance(block, Choice | Fork | Inclusive):
            nested = [b for b, *_ in block.branches] if isinstance(block, Choice) else []
            if isinstance(block, Fork | Inclusive):
                nested = list(block.branches)
            if any(_calls(b) for b in nested):
                return True
        if isinstance(block, Race) and (_calls(block.on_message) or _calls(block.on_timer)):
            return True
        if isinstance(block, SubProcess) and (
            _calls(block.body) or any(_calls(h.body) for h in block.handlers)
        ):
            return True
    return False


# --- rendering ----------------------------------------------------------------------------


@dataclass
class RenderedModel:
    """A BPMN document and what a case of it needs: the process id to start, the start
    variables, and the service tasks an operator's retry may repair."""

    xml: str
    process_id: str
    child_id: str | None
    variables: dict[str, Any]
    services: dict[str, str] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)
    nodes: int = 0
    fire_once: list[str] = field(default_factory=list)
    """Start events of the processes' own timeDuration event subprocesses: each process
    instance runs them once at most."""
    incident_kinds: set[str] = field(default_factory=set)
    """The kinds of incident this model may raise beyond a failing service task or child
    case: ``limit`` (an oversized collection), ``expression`` (a short computed cycle, a
    costly condition)."""
    repairs: dict[str, Any] = field(default_factory=dict)
    """Variables an operator's retry sets to bring the model within `LIMITS`."""
    compensators: list[str] = field(default_factory=list)
    """The compensation handlers (user tasks), each run at most once per completion."""
    joins: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    """Each inclusive join (outside paths that may run twice in one scope), with the nodes
    between its fork and it that can still reach it, and the nodes after it."""


@dataclass
class _Container:
    nodes: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)

    def xml(self) -> str:
        return "\n".join(self.nodes + self.flows)


@dataclass(frozen=True)
class _Out:
    """Where the next flow leaves from, with its condition and a fixed id if any."""

    node: str
    condition: str | None = None
    flow_id: str | None = None


class _Writer:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seq = 0
        self.variables: dict[str, Any] = {}
        self.services: dict[str, str] = {}
        self.choices: list[str] = []
        self.fire_once: list[str] = []
        self.incident_kinds: set[str] = set()
        self.repairs: dict[str, Any] = {}
        self.nodes = 0
        self.child_id = ""
        self.compensators: list[str] = []
        self.joins: list[tuple[str, str]] = []
        self.edges: list[tuple[str, str]] = []
        self.repeatable = 0
        """Above 0 while rendering a path that may run more than once in one scope (after
        a non-interrupting boundary event, in an event subprocess)."""

    def id(self, kind: str) -> str:
        self.seq += 1
        return f"{kind}{self.seq}"

    def node(self, c: _Container, xml: str) -> None:
        self.nodes += 1
        c.nodes.append(xml)

    def flow(self, c: _Container, out: _Out, target: str) -> None:
        flow_id = out.flow_id or self.id("f")
        self.edges.append((out.node, target))
        if out.condition is None:
            c.flows.append(
                f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{out.node}" targetRef="{target}"/>'
            )
        else:
            c.flows.append(
                f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{out.node}" '
                f'targetRef="{target}"><bpmn:conditionExpression>{out.condition}'
                "</bpmn:conditionExpression></bpmn:sequenceFlow>"
            )

    # --- sequences and blocks ---------------------------------------------------------------

    def seq_of(self, c: _Container, blocks: tuple[Block, ...], out: _Out) -> _Out:
        for block in blocks:
            out = self.block(c, block, out)
        return out

    def end(self, c: _Container, out: _Out, how: str = "end") -> None:
        end_id = self.id("End")
        if how == "terminate":
            inner = "<bpmn:terminateEventDefinition/>"
        elif how.startswith("error:"):
            inner = f'<bpmn:errorEventDefinition errorRef="Err_{how.removeprefix("error:")}"/>'
        elif how.startswith("escalation:"):
            code = how.removeprefix("escalation:")
            inner = f'<bpmn:escalationEventDefinition escalationRef="Esc_{code}"/>'
        else:
            inner = ""
        self.node(c, f'<bpmn:endEvent id="{end_id}" name="{end_id}">{inner}</bpmn:endEvent>')
        self.flow(c, out, end_id)

    def block(self, c: _Container, block: Block, out: _Out) -> _Out:
        if isinstance(block, UserTask):
            task = self.id("Task")
            exit = self.activity(c, "userTask", task, "", "", block.boundaries, block.multi, out)
            if block.compensable:
                self.compensation(c, task)
            return exit
        if isinstance(block, Inclusive):
            return self.inclusive(c, block, out)
        if isinstance(block, Script):
            script = self.id("Script")
            self.node(
                c,
                f'<bpmn:scriptTask id="{script}"><bpmn:extensionElements>'
                f'<niva:script expression="=1 + 2" resultVariable="s_{script}"/>'
                "</bpmn:extensionElements></bpmn:scriptTask>",
            )
            self.flow(c, out, script)
            return _Out(script)
        if isinstance(block, Rule):
            rule = self.id("Rule")
            self.variables["employees"] = 5
            self.node(
                c,
                f'<bpmn:businessRuleTask id="{rule}"><bpmn:extensionElements>'
                f'<niva:calledDecision decisionId="{DECISION}" resultVariable="d_{rule}"/>'
                "</bpmn:extensionElements></bpmn:businessRuleTask>",
            )
            self.flow(c, out, rule)
            return _Out(rule)
        if isinstance(block, Link):
            throw, catch = self.id("LinkThrow"), self.id("LinkCatch")
            for tag, element in (
                ("intermediateThrowEvent", throw),
                ("intermediateCatchEvent", catch),
            ):
                self.node(
                    c,
                    f'<bpmn:{tag} id="{element}"><bpmn:linkEventDefinition name="L{throw}"/>'
                    f"</bpmn:{tag}>",
                )
            self.flow(c, out, throw)
            return _Out(catch)
        if isinstance(block, Escalate | Compensate):
            throw = self.id("Escalate" if isinstance(block, Escalate) else "Compensate")
            definition = (
                f'<bpmn:escalationEventDefinition escalationRef="Esc_{block.code}"/>'
                if isinstance(block, Escalate)
                else "<bpmn:compensateEventDefinition/>"
            )
            self.node(
                c,
                f'<bpmn:intermediateThrowEvent id="{throw}">{definition}'
                "</bpmn:intermediateThrowEvent>",
            )
            self.flow(c, out, throw)
            return _Out(throw)
        if isinstance(block, Condition):
            wait = self.id("Condition")
            definition = self.definition("condition", ("timeDuration", "P1D"), 0, None)
            self.node(
                c,
                f'<bpmn:intermediateCatchEvent id="{wait}">{definition}'
                "</bpmn:intermediateCatchEvent>",
            )
            self.flow(c, out, wait)
            return _Out(wait)
        if isinstance(block, ServiceTask):
            task = self.id("Service")
            self.variables[f"b_{task}"] = block.behaviour
            self.services[task] = f"b_{task}"
            ext = (
                f'<niva:taskDefinition type="{TASK_TYPE}" retries="1" timeout="PT30S"/>'
                f'<niva:input target="behaviour" source="=b_{task}"/>'
                f'<niva:output target="r_{task}" source="=result.behaviour"/>'
            )
            return self.activity(
                c, "serviceTask", task, ext, "", block.boundaries, block.multi, out
            )
        if isinstance(block, Wait):
            return self.wait(c, block, out)
        if isinstance(block, Choice):
            return self.choice(c, block, out)
        if isinstance(block, Fork):
            fork, join = self.id("Fork"), self.id("Join")
            self.node(c, f'<bpmn:parallelGateway id="{fork}"/>')
            self.node(c, f'<bpmn:parallelGateway id="{join}"/>')
            self.flow(c, out, fork)
            for branch in block.branches:
                self.flow(c, self.seq_of(c, branch, _Out(fork)), join)
            return _Out(join)
        if isinstance(block, Race):
            return self.race(c, block, out)
        if isinstance(block, SubProcess):
            sub = self.id("Sub")
            inner = _Container()
            start = self.id("SubStart")
            self.node(inner, f'<bpmn:startEvent id="{start}"/>')
            self.end(inner, self.seq_of(inner, block.body, _Out(start)))
            for handler in block.handlers:
                self.handler(inner, handler)
            return self.activity(
                c, "subProcess", sub, "", inner.xml(), block.boundaries, block.multi, out
            )
        call = self.id("Call")
        ext = f'<niva:calledElement processId="{self.child_id}"/>'
        return self.activity(c, "callActivity", call, ext, "", block.boundaries, block.multi, out)

    def activity(
        self,
        c: _Container,
        tag: str,
        element_id: str,
        ext: str,
        body: str,
        boundaries: tuple[Boundary, ...],
        multi: Multi | None,
        out: _Out,
    ) -> _Out:
        loop = self.loop(element_id, multi) if multi is not None else ""
        ext_xml = f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>" if ext else ""
        self.node(
            c,
            f'<bpmn:{tag} id="{element_id}" name="{element_id}">{ext_xml}{loop}{body}</bpmn:{tag}>',
        )
        self.flow(c, out, element_id)
        exit = _Out(element_id)
        if any(b.rejoin for b in boundaries):
            merge = self.id("Merge")
            self.node(c, f'<bpmn:exclusiveGateway id="{merge}"/>')
            self.flow(c, exit, merge)
            exit = _Out(merge)
        for boundary in boundaries:
            event = self.id("On")
            cancel = "" if boundary.interrupting else ' cancelActivity="false"'
            definition = self.definition(
                boundary.trigger, boundary.timer, boundary.message, boundary.error_code
            )
            self.node(
                c,
                f'<bpmn:boundaryEvent id="{event}" attachedToRef="{element_id}"{cancel}>'
                f"{definition}</bpmn:boundaryEvent>",
            )
            self.repeatable += not boundary.interrupting
            path = self.seq_of(c, boundary.then, _Out(event))
            self.repeatable -= not boundary.interrupting
            if boundary.rejoin:
                self.flow(c, path, exit.node)
            else:
                self.end(c, path)
        return exit

    def loop(self, element_id: str, multi: Multi) -> str:
        sequential = ' isSequential="true"' if multi.sequential else ""
        output = ""
        if multi.output != "none":
            output = f' outputCollection="out_{element_id}"'
            if multi.output != "locals":
                output += f' outputElement="={multi.output}"'
        completion = (
            "<bpmn:completionCondition>=numberOfCompletedInstances &gt;= 1"
            "</bpmn:completionCondition>"
            if multi.completion
            else ""
        )
        return (
            f"<bpmn:multiInstanceLoopCharacteristics{sequential}><bpmn:extensionElements>"
            f'<niva:loop inputCollection="=items" inputElement="item"{output}/>'
            f"</bpmn:extensionElements>{completion}</bpmn:multiInstanceLoopCharacteristics>"
        )

    def definition(
        self, trigger: str, timer: TimerSpec, message: int, error_code: str | None
    ) -> str:
        if trigger == "timer":
            kind, value = timer
            if value.startswith("="):
                variable = f"c{self.seq}"
                self.variables[variable] = value.removeprefix("=")
                self.repairs[variable] = _REPAIRED_CYCLE
                if value == f"={_SHORT_CYCLE}":
                    self.incident_kinds.add("expression")
                value = f"={variable}"
            return (
                f"<bpmn:timerEventDefinition><bpmn:{kind}>{value}</bpmn:{kind}>"
                "</bpmn:timerEventDefinition>"
            )
        if trigger == "message":
            return f'<bpmn:messageEventDefinition messageRef="Msg_{message}"/>'
        if trigger == "condition":
            variable = f"v{self.seq}"
            self.variables[variable] = 0
            self.choices.append(variable)
            return (
                '<bpmn:conditionalEventDefinition><bpmn:condition xsi:type="bpmn:tFormalExpression">'
                f"={variable} &gt;= 1</bpmn:condition></bpmn:conditionalEventDefinition>"
            )
        if trigger == "escalation":
            ref = f' escalationRef="Esc_{error_code}"' if error_code else ""
            return f"<bpmn:escalationEventDefinition{ref}/>"
        ref = f' errorRef="Err_{error_code}"' if error_code else ""
        return f"<bpmn:errorEventDefinition{ref}/>"

    def wait(self, c: _Container, block: Wait, out: _Out) -> _Out:
        wait = self.id("Wait")
        if block.trigger == "receive":
            self.node(c, f'<bpmn:receiveTask id="{wait}" messageRef="Msg_{block.message}"/>')
        elif block.trigger == "signal":
            self.node(
                c,
                f'<bpmn:intermediateCatchEvent id="{wait}"><bpmn:signalEventDefinition '
                f'signalRef="Sig_{block.message % 2}"/></bpmn:intermediateCatchEvent>',
            )
        else:
            definition = self.definition(block.trigger, block.timer, block.message, None)
            self.node(
                c,
                f'<bpmn:intermediateCatchEvent id="{wait}">{definition}'
                "</bpmn:intermediateCatchEvent>",
            )
        self.flow(c, out, wait)
        return _Out(wait)

    def choice(self, c: _Container, block: Choice, out: _Out) -> _Out:
        gateway = self.id("Choice")
        variable = f"g{self.seq}"
        self.variables[variable] = 0
        self.choices.append(variable)
        merge = self.id("Merge")
        self.flow(c, out, gateway)
        default = self.id("f")
        costly = f"k{self.seq}"
        self.variables[costly] = _COSTLY if block.costly else _CHEAP
        self.repairs[costly] = _CHEAP
        if block.costly:
            self.incident_kinds.add("expression")
        for index, (blocks, end) in enumerate(block.branches):
            condition = f"={variable} == {index}"
            if index == 1:
                condition += f" &amp;&amp; {costly}.all(x, {costly}.all(y, x + y &gt;= 0))"
            first = (
                _Out(gateway, flow_id=default) if index == 0 else _Out(gateway, condition=condition)
            )
            last = self.seq_of(c, blocks, first)
            if end == "continue":
                self.flow(c, last, merge)
            else:
                self.end(c, last, end)
        self.node(c, f'<bpmn:exclusiveGateway id="{gateway}" default="{default}"/>')
        self.node(c, f'<bpmn:exclusiveGateway id="{merge}"/>')
        return _Out(merge)

    def compensation(self, c: _Container, task: str) -> None:
        """A compensation boundary event on ``task`` and its handler, a user task."""
        event, handler = self.id("Undo"), self.id("Compensation")
        self.compensators.append(handler)
        self.node(
            c,
            f'<bpmn:boundaryEvent id="{event}" attachedToRef="{task}">'
            "<bpmn:compensateEventDefinition/></bpmn:boundaryEvent>",
        )
        self.node(c, f'<bpmn:userTask id="{handler}" isForCompensation="true"/>')
        c.flows.append(
            f'<bpmn:association id="{self.id("Assoc")}" sourceRef="{event}" targetRef="{handler}"/>'
        )

    def inclusive(self, c: _Container, block: Inclusive, out: _Out) -> _Out:
        fork, join = self.id("Inclusive"), self.id("InclusiveJoin")
        default = self.id("f")
        self.flow(c, out, fork)
        for index, branch in enumerate(block.branches):
            variable = f"v{fork.removeprefix('Inclusive')}_{index}"
            self.variables[variable] = 0
            self.choices.append(variable)
            first = _Out(fork, condition=f"={variable} == 1")
            self.flow(c, self.seq_of(c, branch, first), join)
        self.flow(c, _Out(fork, flow_id=default), join)
        self.node(c, f'<bpmn:inclusiveGateway id="{fork}" default="{default}"/>')
        self.node(c, f'<bpmn:inclusiveGateway id="{join}"/>')
        if not self.repeatable:
            self.joins.append((fork, join))
        return _Out(join)

    def race(self, c: _Container, block: Race, out: _Out) -> _Out:
        gateway, merge = self.id("Race"), self.id("Merge")
        message, timer = self.id("Heard"), self.id("Timeout")
        self.node(c, f'<bpmn:eventBasedGateway id="{gateway}"/>')
        self.node(
            c,
            f'<bpmn:intermediateCatchEvent id="{message}">'
            f"{self.definition('message', block.timer, block.message, None)}"
            "</bpmn:intermediateCatchEvent>",
        )
        self.node(
            c,
            f'<bpmn:intermediateCatchEvent id="{timer}">'
            f"{self.definition('timer', block.timer, block.message, None)}"
            "</bpmn:intermediateCatchEvent>",
        )
        self.node(c, f'<bpmn:exclusiveGateway id="{merge}"/>')
        self.flow(c, out, gateway)
        self.flow(c, _Out(gateway), message)
        self.flow(c, _Out(gateway), timer)
        self.flow(c, self.seq_of(c, block.on_message, _Out(message)), merge)
        self.flow(c, self.seq_of(c, block.on_timer, _Out(timer)), merge)
        return _Out(merge)

    def handler(self, c: _Container, handler: EventSubprocess) -> str:
        sub, start = self.id("Handler"), self.id("HandlerStart")
        inner = _Container()
        interrupting = "" if handler.interrupting else ' isInterrupting="false"'
        definition = self.definition(
            handler.trigger, handler.timer, handler.message, handler.error_code
        )
        self.node(
            inner, f'<bpmn:startEvent id="{start}"{interrupting}>{definition}</bpmn:startEvent>'
        )
        self.repeatable += 1
        self.end(inner, self.seq_of(inner, handler.body, _Out(start)))
        self.repeatable -= 1
        self.node(
            c,
            f'<bpmn:subProcess id="{sub}" triggeredByEvent="true">{inner.xml()}</bpmn:subProcess>',
        )
        return start

    def process(self, process_id: str, process: Process) -> str:
        c = _Container()
        start = self.id("Start")
        self.node(c, f'<bpmn:startEvent id="{start}"/>')
        self.end(c, self.seq_of(c, process.body, _Out(start)))
        for handler in process.handlers:
            start = self.handler(c, handler)
            if handler.trigger == "timer" and handler.timer[0] == "timeDuration":
                self.fire_once.append(start)
        return f'<bpmn:process id="{process_id}" isExecutable="true">\n{c.xml()}\n</bpmn:process>'


def render(model: GeneratedModel, process_id: str) -> RenderedModel:
    """The model as a BPMN document; its child process is ``<process_id>_child``."""
    writer = _Writer(process_id)
    child_id = f"{process_id}_child" if model.child is not None else None
    writer.child_id = child_id or ""
    processes = [writer.process(process_id, model.main)]
    if model.child is not None and child_id is not None:
        processes.append(writer.process(child_id, model.child))
    declarations = (
        [f'<bpmn:message id="Msg_{n}" name="m{n}"/>' for n in range(4)]
        + [f'<bpmn:signal id="Sig_{n}" name="s{n}"/>' for n in range(2)]
        + [
            f'<bpmn:error id="Err_{code}" name="{code}" errorCode="{code}"/>'
            for code in ERROR_CODES
        ]
        + [
            f'<bpmn:escalation id="Esc_{code}" name="{code}" escalationCode="{code}"/>'
            for code in ESCALATION_CODES
        ]
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:niva="urn:niva:bpmn:1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'id="defs" targetNamespace="urn:niva:generated">\n'
        + "\n".join(declarations + processes)
        + "\n</bpmn:definitions>\n"
    )
    if len(model.items) > LIMITS.max_multi_instance and _multi_instance(model):
        writer.incident_kinds.add("limit")
        writer.repairs["items"] = list(model.items[: LIMITS.max_multi_instance])
    return RenderedModel(
        xml=xml,
        process_id=process_id,
        child_id=child_id,
        variables={"items": list(model.items), **writer.variables},
        services=writer.services,
        choices=writer.choices,
        nodes=writer.nodes,
        fire_once=writer.fire_once,
        incident_kinds=writer.incident_kinds,
        repairs=writer.repairs,
        compensators=writer.compensators,
        joins=_join_regions(writer.joins, writer.edges),
    )


def _join_regions(
    joins: list[tuple[str, str]], edges: list[tuple[str, str]]
) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """For each inclusive join: the nodes between its fork and it from which it can still
    be reached, and the nodes after it: those that no path reaches but through it (a
    parallel join after it is not one, a token of another branch waits there)."""
    forward: dict[str, set[str]] = {}
    backward: dict[str, set[str]] = {}
    for source, target in edges:
        forward.setdefault(source, set()).add(target)
        backward.setdefault(target, set()).add(source)

    def reach(start: str, graph: dict[str, set[str]], avoid: str = "") -> set[str]:
        seen: set[str] = set()
        pending = [start]
        while pending:
            for nxt in sorted(graph.get(pending.pop(), ())):
                if nxt not in seen and nxt != avoid:
                    seen.add(nxt)
                    pending.append(nxt)
        return seen

    # Start events, boundary events and event subprocess starts: nothing flows into them.
    sources = sorted(set(forward) - set(backward))

    regions = {}
    for fork, join in joins:
        between = (reach(fork, forward) & reach(join, backward)) - {fork, join}
        around = {n for source in sources for n in reach(source, forward, avoid=join)}
        regions[join] = (frozenset(between), frozenset(reach(join, forward) - around))
    return regions


def _multi_instance(model: GeneratedModel) -> bool:
    """Whether any activity of the model (or its child) loops over ``items``."""
    pending: list[Any] = [model.main, model.child]
    while pending:
        item = pending.pop()
        if isinstance(item, tuple | list):
            pending.extend(item)
        elif isinstance(item, Multi):
            return True
        elif item is not None and hasattr(item, "__dataclass_fields__"):
            pending.extend(getattr(item, name) for name in item.__dataclass_fields__)
    return False


# --- the activity -------------------------------------------------------------------------


@activity.defn(name=TASK_TYPE)
async def generated_service(call: ServiceCall) -> dict[str, Any]:
    """Do what the input ``behaviour`` says: ``ok`` returns, ``fail`` fails (an incident
    once the task's retries are spent), ``error:<code>`` throws that BPMN error."""
    behaviour = str(call.inputs.get("behaviour", "ok"))
    if behaviour.startswith("error:"):
        raise bpmn_error(behaviour.removeprefix("error:"), f"{call.task_id} threw")
    if behaviour != "ok":
        raise ApplicationError(f"{call.task_id} failed ({behaviour})")
    return {"behaviour": behaviour, "task_id": call.task_id}
