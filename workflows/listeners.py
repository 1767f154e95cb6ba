"""Camunda 8 execution and user task listeners at run time: jobs at an element's start or
end, and at a user task's creation and completion.

A ``zeebe:executionListener`` or ``zeebe:taskListener`` (`process_models.schema`) runs as a
job, exactly as a service task of its type does (an activity named by the type on the job
workers' queue, with the `service_contract.JobCall` envelope), while its token waits.
Zeebe's rules (docs/MODELLING.md, "Execution listeners" and "Task listeners"):

- **Start** listeners run one after another, in model order, before the element's own
  work begins (a task is offered, its job or script started, a catch event's timer or
  subscription armed, a gateway's conditions evaluated, a subprocess's start event
  entered; boundary events are armed after them). A start listener sees the variables the
  element sees, its input mappings included; its result variables are **local variables**
  of the element: the element's expressions, its job, its output mappings and the next
  listeners see them, the enclosing scope does not (unless an output mapping writes
  them); a subprocess's are variables of its scope. A retry of an incident at the element
  whose corrected variable names such a local replaces the local
  (`Interpreter.retry_incident`), so an incident the local caused can be repaired.
- **End** listeners run one after another after the element completed and its outputs
  were mapped, before the token leaves; their result variables go to the scope the
  element is in, as an output mapping's do.
- Where they run is Camunda's table (`process_models.bpmn.zeebe.listener_events`): a
  start event and a boundary event run only end listeners, a gateway only start
  listeners (a parallel or inclusive join once each time it fires, for the token its
  firing made; tokens that arrive while they run wait for its next firing), an error end
  event only start ones.
  A multi-instance activity runs them for each instance, not for its body.
- The **process's** start listeners run before its start event is left, their variables
  the case's; its end listeners run when the last token of the case reaches an end event
  (or ends where no flow leads on), before the case ends.
- A user task's **creating** task listeners run after its start listeners, before the
  task opens: their jobs see the task's assignee and candidates in Zeebe's headers
  (``io.camunda.zeebe:assignee`` …) and return a `service_contract.TaskListenerResult`
  whose corrections (assignee, unless the model set one; candidate users and groups)
  the task opens with. Its **completing** listeners run once a completion is accepted,
  before the outputs are mapped; one that denies reopens the task (the trail records the
  denied submission and the reason), the ones after it do not run.
- A listener that fails after its ``retries`` (default 3) parks the token in an incident
  on the listener; a retry runs that listener again, not the ones before it. A listener
  cannot throw a BPMN error (Zeebe's rule), and a task listener returns no variables: either
  is an incident too.
- A listener runs as an activity of the case (kind `LISTENER_KIND`), owned by its token:
  an interrupting event that ends the scope (or the user task whose completing listener
  runs) cancels it as it cancels any activity.

Validation (`process_models.bpmn.zeebe.listener_problems`) admits listeners where this
module runs them; the interpreter calls it where an element is entered, completed or
ends, where a join fires, where a task completes, and when a listener's job finishes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from pydantic import JsonValue, ValidationError

from process_models.bpmn.zeebe import TASK_LISTENER_EVENTS
from process_models.schema import ExecutionListener, FlowNode
from service_contract import TaskListenerResult
from workflows.effects import StartService
from workflows.state import ROOT_SCOPE, Activity, InstanceState, Scope, Token

if TYPE_CHECKING:
    from workflows.interpreter import Interpreter
    from workflows.model import ExecutableModel

__all__ = [
    "LISTENER_KIND",
    "Listeners",
    "body_of",
    "corrected",
    "hold_instance",
    "instance_scope",
    "starting_tokens",
]

LISTENER_KIND = "executionListener"
"""The `Activity.kind` of a running listener (execution or task listener)."""

Event = Literal["start", "end", "creating", "completing"]

HEADER_PREFIX = "io.camunda.zeebe:"
"""Zeebe's reserved headers, which tell a task listener's job about the task."""


class Listeners:
    """The listener half of an `Interpreter` (it changes the interpreter's state)."""

    def __init__(self, interpreter: Interpreter) -> None:
        self.interpreter = interpreter

    # --- where the interpreter asks -------------------------------------------------------

    def starting(self, token: Token, node: FlowNode, *, joined: bool = False) -> bool:
        """``token`` enters ``node``: run its next start listener (the process's, at the
        case's start event), then a user task's next creating listener. True while one
        runs: the element's own work waits. A multi-instance body runs none (its
        instances do); a parallel or inclusive join runs them once it fires
        (``joined``)."""
        state = self.interpreter.state
        if node.loop is not None and instance_scope(state, token, node) is None:
            return False
        if not joined and _joins(self.interpreter.model, node):
            return False
        token.process_listeners = node.kind == "startEvent" and token.scope_id == ROOT_SCOPE
        listeners = self._sequence(token, node)
        if token.listeners_done >= len(listeners):
            token.process_listeners = False
            return False
        self._run(token, node, *listeners[token.listeners_done])
        return True

    def ending(self, token: Token, node: FlowNode) -> bool:
        """``node`` completed and its outputs are mapped: run its end listeners first.
        True when they run (the token leaves when the last is done)."""
        if token.phase == "end" or not _of(node, "end"):
            return False
        if node.loop is not None and instance_scope(self.interpreter.state, token, node) is None:
            return False
        self._enter_end_phase(token, process=False)
        self._run(token, node, "end", _of(node, "end")[0])
        return True

    def process_ending(self, token: Token, node: FlowNode) -> bool:
        """``token``, the case's last, ends at ``node``: run the process's end listeners
        first. True when they run (the case ends when the last is done)."""
        listeners = self._process("end")
        state = self.interpreter.state
        if (
            not listeners
            or (token.phase == "end" and token.process_listeners)
            or token.scope_id != ROOT_SCOPE
            or list(state.tokens) != [token.id]
        ):
            return False
        self._enter_end_phase(token, process=True)
        self._run(token, node, "end", listeners[0])
        return True

    def end_phase(self, token: Token, node: FlowNode) -> None:
        """A token in its ``end`` phase moves: the next end listener, or on its way."""
        interpreter = self.interpreter
        listeners = self._sequence(token, node)
        if token.listeners_done < len(listeners):
            self._run(token, node, *listeners[token.listeners_done])
        elif not token.process_listeners:
            interpreter._completed(token, node)
        elif node.kind == "endEvent":
            interpreter._end_event(token, node)
        else:
            interpreter._consume(token)

    def completing(self, task: Activity, payload: dict[str, JsonValue]) -> bool:
        """A completion of the user task ``task`` was accepted: run its completing
        listeners before the task completes. True when they run (the completion waits in
        the token's ``payload``)."""
        node = self.interpreter.model.node(task.element_id)
        listeners = _task_listeners(node, "completing")
        if not listeners:
            return False
        token = self.interpreter.state.tokens[task.token_id]
        token.completing = True
        token.listeners_done = 0
        token.phase = "complete"
        token.payload = payload
        self._run(token, node, "completing", listeners[0])
        return True

    # --- a listener's job -----------------------------------------------------------------

    def succeeded(self, activity: Activity, result: JsonValue) -> None:
        """A listener's job returned: keep its result, and let the token move."""
        interpreter = self.interpreter
        token = interpreter.state.tokens.get(activity.token_id)
        if token is None:
            interpreter.state.activities.pop(activity.id, None)
            return
        node = interpreter.model.node(token.node_id)
        listeners = self._sequence(token, node)
        event = (
            listeners[token.listeners_done][0] if token.listeners_done < len(listeners) else None
        )
        if event == "creating" or event == "completing":
            self._task_listener_done(activity, token, node, event, result)
            return
        interpreter.state.activities.pop(activity.id, None)
        variables = result if isinstance(result, dict) else {}
        if token.phase == "end" or token.process_listeners:
            # An end listener's variables go where an output mapping's would; the process's
            # start listeners' are the case's own (its local variables in Zeebe).
            scope_id = ROOT_SCOPE if token.process_listeners else token.scope_id
            for name, value in variables.items():
                interpreter._set(scope_id, name, value)
        elif variables:
            token.listener_locals = {**(token.listener_locals or {}), **variables}
        token.listeners_done += 1
        token.status = "ready"

    def failed(self, activity: Activity, error_code: str | None, message: str) -> None:
        """A listener's job failed after its retries (or threw a BPMN error, which a
        listener may not): an incident on the listener, which a retry runs again."""
        if error_code is not None:
            message = (
                f"the listener threw BPMN error {error_code} ({message}): a listener cannot "
                "throw a BPMN error; model it on a service task"
            )
        activity.status = "incident"
        self.interpreter._incident(
            "activity", activity.element_id, message, activity_id=activity.id
        )

    def restart(self, activity: Activity) -> None:
        """Run a failed listener again (an incident's retry); the ones before it stay done."""
        token = self.interpreter.state.tokens[activity.token_id]
        node = self.interpreter.model.node(token.node_id)
        event, listener = self._sequence(token, node)[token.listeners_done]
        activity.status = "active"
        activity.attempt += 1
        self._start_job(activity, token, node, listener, event)

    def _task_listener_done(
        self, activity: Activity, token: Token, node: FlowNode, event: Event, result: JsonValue
    ) -> None:
        """A task listener's job returned a `TaskListenerResult`: keep its corrections
        (creating), reopen the task if it denies (completing), or go on."""
        interpreter = self.interpreter
        problem, outcome = _task_listener_result(result, event)
        if outcome is None:
            self.failed(activity, None, problem)
            return
        interpreter.state.activities.pop(activity.id, None)
        if event == "creating":
            corrections = outcome.corrections.model_dump(by_alias=True, exclude_none=True)
            token.task_corrections = {**(token.task_corrections or {}), **corrections} or None
            token.listeners_done += 1
            token.status = "ready"
            return
        task = interpreter.state.activities[token.activity_id or ""]
        if outcome.denied:
            self._deny(token, task, node, outcome.denied_reason)
            return
        token.listeners_done += 1
        listeners = self._sequence(token, node)
        if token.listeners_done < len(listeners):
            self._run(token, node, *listeners[token.listeners_done])
            return
        payload = token.payload
        token.completing = False
        token.listeners_done = 0
        interpreter._finish_activity(task, payload=payload)

    def _deny(self, token: Token, task: Activity, node: FlowNode, reason: str | None) -> None:
        """A completing listener denied the completion: the task is open again, as it
        was; the trail keeps what was submitted and why it was denied."""
        interpreter = self.interpreter
        completed = interpreter.state.completed_tasks.pop(task.id, None)
        interpreter._audit(
            "task_completion_denied",
            element_id=node.id,
            task_id=task.id,
            actor=completed.actor if completed is not None else None,
            payload_digest=_digest(token.payload),
            detail=reason or "denied by a completing listener",
        )
        token.completing = False
        token.listeners_done = 0
        token.phase = "enter"
        token.payload = None
        token.status = "waiting"

    # --- running one ----------------------------------------------------------------------

    def _sequence(self, token: Token, node: FlowNode) -> list[tuple[Event, ExecutionListener]]:
        """The listeners of the phase ``token`` is in, in the order they run."""
        if token.completing:
            return [("completing", listener) for listener in _task_listeners(node, "completing")]
        event: Event = "end" if token.phase == "end" else "start"
        if token.process_listeners:
            return [(event, listener) for listener in self._process(event)]
        listeners: list[tuple[Event, ExecutionListener]] = [
            (event, listener) for listener in _of(node, event)
        ]
        if event == "start":
            listeners += [("creating", item) for item in _task_listeners(node, "creating")]
        return listeners

    def _process(self, event: Event) -> list[ExecutionListener]:
        return [
            listener
            for listener in self.interpreter.model.process.execution_listeners
            if listener.event_type == event
        ]

    def _enter_end_phase(self, token: Token, *, process: bool) -> None:
        token.phase = "end"
        token.process_listeners = process
        token.listeners_done = 0
        # The completion is mapped already: nothing of it is left to discard or map.
        token.payload = None
        token.result = None

    def _run(self, token: Token, node: FlowNode, event: Event, listener: ExecutionListener) -> None:
        interpreter = self.interpreter
        state = interpreter.state
        name = f"{listener.type} ({event} listener)"
        activity = Activity(
            id=f"{node.id}{state.next_id(f'{event}-listener')}",
            element_id=node.id,
            kind=LISTENER_KIND,
            name=name,
            scope_id=token.scope_id,
            token_id=token.id,
            created=interpreter.now,
        )
        scope = instance_scope(state, token, node)
        if scope is not None and token.phase == "enter":
            # A multi-instance instance that has not started yet: its listener holds its
            # place among the body's running instances, so the body waits for it and an
            # interruption of the body ends it (and the instance's scope) too.
            body = body_of(state, scope, node)
            activity.parent_activity = body.id
            hold_instance(body, scope, activity.id)
        state.activities[activity.id] = activity
        token.status = "waiting"
        self._start_job(activity, token, node, listener, event)

    def _start_job(
        self,
        activity: Activity,
        token: Token,
        node: FlowNode,
        listener: ExecutionListener,
        event: Event,
    ) -> None:
        definition = node.niva.task_definition
        # The element's headers reach its listeners too, as in Zeebe.
        headers = dict(definition.headers) if definition is not None else {}
        if event in ("creating", "completing"):
            headers.update(self._task_headers(token, node, event))
        self.interpreter._start(
            StartService(
                activity_id=activity.id,
                attempt=activity.attempt,
                type=listener.type or "",
                element_id=node.id,
                name=activity.name,
                inputs=self._locals(token, node, event),
                retries=int(listener.retries) if listener.retries else None,
                timeout_seconds=None,
                scope_id=token.scope_id,
                headers=headers,
            )
        )

    def _locals(self, token: Token, node: FlowNode, event: Event) -> dict[str, JsonValue]:
        """The element's local variables a listener's job sees over the scope's: at the
        start its input mappings (evaluated again, as the element will) and the earlier
        listeners' variables; at the end what the element kept (`Token.locals`); while a
        task completes, those and the submitted completion."""
        if token.process_listeners:
            return {}
        if event == "end":
            return dict(token.locals or {})
        if event == "completing":
            return {**(token.locals or {}), **(token.payload or {})}
        interpreter = self.interpreter
        inputs: dict[str, JsonValue] = {}
        if node.kind != "subProcess" and node.kind != "callActivity":
            for mapping in node.niva.inputs:
                if mapping.target:
                    value = interpreter._eval(mapping.source or "", node.id, token.scope_id)
                    interpreter._assign(inputs, mapping.target, value)
        return {**inputs, **(token.listener_locals or {})}

    def _task_headers(self, token: Token, node: FlowNode, event: Event) -> dict[str, str]:
        """Zeebe's reserved headers of a task listener's job: the task as it will open
        (creating: its assignment evaluated now, the corrections so far applied) or as it
        is (completing)."""
        interpreter = self.interpreter
        headers = {f"{HEADER_PREFIX}action": "complete" if event == "completing" else ""}
        if event == "completing":
            task = interpreter.state.activities[token.activity_id or ""]
            users, groups = task.candidate_users, task.candidate_groups
            headers[f"{HEADER_PREFIX}userTaskKey"] = task.id
        else:
            users, groups = self._assignment(token, node)
        assignee = users[0] if len(users) == 1 and not groups else ""
        if assignee:
            headers[f"{HEADER_PREFIX}assignee"] = assignee
        headers[f"{HEADER_PREFIX}candidateUsers"] = json.dumps([] if assignee else users)
        headers[f"{HEADER_PREFIX}candidateGroups"] = json.dumps(groups)
        form = node.niva.form
        if form is not None and (form.key or form.form_id):
            headers[f"{HEADER_PREFIX}formKey"] = form.key or form.form_id or ""
        return headers

    def _assignment(self, token: Token, node: FlowNode) -> tuple[list[str], list[str]]:
        """The candidate users and groups a user task will open with (an assignee is its
        one candidate user), corrections so far included."""
        interpreter = self.interpreter
        assignment = node.niva.assignment
        local = self._locals(token, node, "start")
        users: list[str] = []
        groups: list[str] = []
        if assignment is not None:
            assignee = interpreter._eval_list(
                assignment.assignee, node.id, token.scope_id, extra=local
            )
            if assignee:
                return assignee[:1], []
            users = interpreter._eval_list(
                assignment.candidate_users, node.id, token.scope_id, extra=local
            )
            groups = interpreter._eval_list(
                assignment.candidate_groups, node.id, token.scope_id, extra=local
            )
        return corrected(token.task_corrections, users, groups)


def corrected(
    corrections: dict[str, JsonValue] | None, users: list[str], groups: list[str]
) -> tuple[list[str], list[str]]:
    """A user task's candidate users and groups after its creating listeners'
    corrections: an assignee is set only where the model set none (Camunda's rule), and
    then the task is that principal's alone (as niva's assignee always is)."""
    if not corrections:
        return users, groups
    if len(users) == 1 and not groups:
        return users, groups  # the model's assignee stays
    assignee = corrections.get("assignee")
    if isinstance(assignee, str) and assignee:
        return [assignee], []
    new_users = corrections.get("candidateUsers")
    new_groups = corrections.get("candidateGroups")
    if isinstance(new_users, list):
        users = [str(user) for user in new_users]
    if isinstance(new_groups, list):
        groups = [str(group) for group in new_groups]
    return users, groups


def _task_listener_result(result: JsonValue, event: Event) -> tuple[str, TaskListenerResult | None]:
    """A task listener's job result, or why it cannot be one (an incident)."""
    try:
        outcome = TaskListenerResult.model_validate(result if result is not None else {})
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in error["loc"]) for error in exc.errors())
        return (
            f"a task listener's job returns no variables (Camunda's rule), only "
            f"corrections and a denial (TaskListenerResult); not: {fields}",
            None,
        )
    if outcome.denied and event == "creating":
        return "a creating task listener cannot deny the task's creation (Camunda's rule)", None
    return "", outcome


def _digest(payload: dict[str, JsonValue] | None) -> str | None:
    # Imported here: the interpreter module imports this one.
    from workflows.interpreter import payload_digest

    return payload_digest(payload) if payload is not None else None


def instance_scope(state: InstanceState, token: Token, node: FlowNode) -> Scope | None:
    """The multi-instance instance scope ``token`` runs in at ``node`` (None: the token
    is not one of ``node``'s instances, e.g. the body's)."""
    scope = state.scopes.get(token.scope_id)
    if scope is None or scope.key is None or scope.element_id != node.id or node.loop is None:
        return None
    return scope


def body_of(state: InstanceState, scope: Scope, node: FlowNode) -> Activity:
    """The multi-instance body an instance scope belongs to."""
    bodies = [
        a
        for a in state.activities.values()
        if a.multi is not None and a.element_id == node.id and a.scope_id == scope.parent_id
    ]
    return next(
        (
            a
            for a in bodies
            if a.id == scope.activity_id or (a.multi and scope.activity_id in a.multi.running)
        ),
        bodies[0],
    )


def hold_instance(body: Activity, scope: Scope, activity_id: str) -> None:
    """Make ``activity_id`` the activity that holds an instance's place in its body."""
    assert body.multi is not None
    running = body.multi.running
    if scope.activity_id in running:
        running[running.index(scope.activity_id)] = activity_id
    else:
        running.append(activity_id)
    scope.activity_id = activity_id


def starting_tokens(state: InstanceState) -> frozenset[str]:
    """The tokens whose element's start listeners have begun: one runs (or waits in an
    incident), or some have run and the element's own work is next.

    At a join such a token is the one its firing made, standing for one token of every
    incoming flow: no arrival, so tokens that reach the join meanwhile wait for its next
    firing (Zeebe's rule: a join consumes one taken flow of each incoming flow when it
    fires, and its start listeners run for the gateway that firing activated); nor does it
    hold up that next firing if its own way out fails afterwards (an incident)."""
    running = {
        activity.token_id
        for activity in state.activities.values()
        if activity.kind == LISTENER_KIND
    }
    return frozenset(
        token.id
        for token in state.tokens.values()
        if token.phase == "enter"
        and not token.completing
        and (token.listeners_done > 0 or token.id in running)
    )


def _joins(model: ExecutableModel, node: FlowNode) -> bool:
    """A parallel or inclusive join: its start listeners run when it fires, not for each
    token that arrives."""
    if node.kind == "inclusiveGateway":
        return node.id in model.graph.upstream
    return node.kind == "parallelGateway" and len(model.incoming(node.id)) > 1


def _of(node: FlowNode, event: Event) -> list[ExecutionListener]:
    return [listener for listener in node.niva.execution_listeners if listener.event_type == event]


def _task_listeners(node: FlowNode, event: Event) -> list[ExecutionListener]:
    return [
        listener
        for listener in node.niva.task_listeners
        if TASK_LISTENER_EVENTS.get(listener.event_type or "") == event
    ]
