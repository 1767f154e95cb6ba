"""Camunda 8 execution listeners at run time: jobs at an element's start or end.

A ``zeebe:executionListener`` (`process_models.schema.ExecutionListener`) runs as a job,
exactly as a service task of its type does (an activity named by the type on the job
workers' queue, with the `service_contract.JobCall` envelope), while its token waits.
Zeebe's rules (docs/MODELLING.md, "Execution listeners"):

- **Start** listeners run one after another, in model order, before the element's own
  work begins (a task is offered, its job or script started; boundary events are armed
  after them). A start listener sees the variables the element sees, its input mappings
  included; its result variables are **local variables** of the element: the element's
  expressions, its job, its output mappings and the next listeners see them, the
  enclosing scope does not (unless an output mapping writes them).
- **End** listeners run one after another after the element completed and its outputs
  were mapped, before the token leaves; their result variables go to the scope the
  element is in, as an output mapping's do.
- The **process's** start listeners run before its start event is left, their variables
  the case's; its end listeners run when the last token of the case reaches an end event
  (or ends where no flow leads on), before the case ends.
- A listener that fails after its ``retries`` (default 3) parks the token in an incident
  on the listener; a retry runs that listener again, not the ones before it. A listener
  cannot throw a BPMN error (Zeebe's rule): one that does is an incident too.
- A listener runs as an activity of the case (kind `LISTENER_KIND`), owned by its token:
  an interrupting event that ends the scope cancels it as it cancels any activity.

Validation (`process_models.bpmn.zeebe.listener_problems`) admits listeners where this
module runs them; the interpreter calls it at four points (entering an element, completing
one, reaching an end, a listener's job finishing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import JsonValue

from process_models.schema import ExecutionListener, FlowNode
from workflows.effects import StartService
from workflows.state import ROOT_SCOPE, Activity, Token

if TYPE_CHECKING:
    from workflows.interpreter import Interpreter

__all__ = ["LISTENER_KIND", "Listeners"]

LISTENER_KIND = "executionListener"
"""The `Activity.kind` of a running execution listener."""

Event = Literal["start", "end"]


class Listeners:
    """The execution-listener half of an `Interpreter` (it changes the interpreter's state)."""

    def __init__(self, interpreter: Interpreter) -> None:
        self.interpreter = interpreter

    # --- where the interpreter asks -------------------------------------------------------

    def starting(self, token: Token, node: FlowNode) -> bool:
        """``token`` enters ``node``: run its next start listener (the process's, at the
        case's start event). True while one runs: the element's own work waits."""
        process_start = node.kind == "startEvent" and token.scope_id == ROOT_SCOPE
        listeners = self._process("start") if process_start else _of(node, "start")
        if token.listeners_done >= len(listeners):
            return False
        token.process_listeners = process_start
        self._run(token, node, listeners[token.listeners_done], "start")
        return True

    def ending(self, token: Token, node: FlowNode) -> bool:
        """``node`` completed and its outputs are mapped: run its end listeners first.
        True when they run (the token leaves when the last is done)."""
        if token.phase == "end" or not _of(node, "end"):
            return False
        self._enter_end_phase(token, process=False)
        self._run(token, node, _of(node, "end")[0], "end")
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
        self._run(token, node, listeners[0], "end")
        return True

    def end_phase(self, token: Token, node: FlowNode) -> None:
        """A token in its ``end`` phase moves: the next end listener, or on its way."""
        interpreter = self.interpreter
        listeners = self._process("end") if token.process_listeners else _of(node, "end")
        if token.listeners_done < len(listeners):
            self._run(token, node, listeners[token.listeners_done], "end")
        elif not token.process_listeners:
            interpreter._completed(token, node)
        elif node.kind == "endEvent":
            interpreter._end_event(token, node)
        else:
            interpreter._consume(token)

    # --- a listener's job -----------------------------------------------------------------

    def succeeded(self, activity: Activity, result: JsonValue) -> None:
        """A listener's job returned: keep its result variables, and let the token move."""
        interpreter = self.interpreter
        interpreter.state.activities.pop(activity.id, None)
        token = interpreter.state.tokens.get(activity.token_id)
        if token is None:
            return
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
                f"the listener threw BPMN error {error_code} ({message}): an execution "
                "listener cannot throw a BPMN error; model it on a service task"
            )
        activity.status = "incident"
        self.interpreter._incident(
            "activity", activity.element_id, message, activity_id=activity.id
        )

    def restart(self, activity: Activity) -> None:
        """Run a failed listener again (an incident's retry); the ones before it stay done."""
        token = self.interpreter.state.tokens[activity.token_id]
        node = self.interpreter.model.node(token.node_id)
        event: Event = "end" if token.phase == "end" else "start"
        listeners = self._process(event) if token.process_listeners else _of(node, event)
        activity.status = "active"
        activity.attempt += 1
        self._start_job(activity, token, node, listeners[token.listeners_done], event)

    # --- running one ----------------------------------------------------------------------

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

    def _run(self, token: Token, node: FlowNode, listener: ExecutionListener, event: Event) -> None:
        interpreter = self.interpreter
        name = f"{listener.type} ({event} listener)"
        activity = Activity(
            id=f"{node.id}{interpreter.state.next_id(f'{event}-listener')}",
            element_id=node.id,
            kind=LISTENER_KIND,
            name=name,
            scope_id=token.scope_id,
            token_id=token.id,
            created=interpreter.now,
        )
        interpreter.state.activities[activity.id] = activity
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
                # The element's headers reach its listeners too, as in Zeebe.
                headers=dict(definition.headers) if definition is not None else {},
            )
        )

    def _locals(self, token: Token, node: FlowNode, event: Event) -> dict[str, JsonValue]:
        """The element's local variables a listener's job sees over the scope's: at the
        start its input mappings (evaluated again, as the element will) and the earlier
        listeners' variables; at the end what the element kept (`Token.locals`)."""
        if token.process_listeners:
            return {}
        if event == "end":
            return dict(token.locals or {})
        interpreter = self.interpreter
        inputs: dict[str, JsonValue] = {}
        if node.kind != "subProcess" and node.kind != "callActivity":
            for mapping in node.niva.inputs:
                if mapping.target:
                    value = interpreter._eval(mapping.source or "", node.id, token.scope_id)
                    interpreter._assign(inputs, mapping.target, value)
        return {**inputs, **(token.listener_locals or {})}


def _of(node: FlowNode, event: Event) -> list[ExecutionListener]:
    return [listener for listener in node.niva.execution_listeners if listener.event_type == event]
