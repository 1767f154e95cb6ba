"""BPMN compensation at run time: installing, throwing, and running the handlers.

- **Installed** when an activity with a compensation boundary event completes (each
  instance of a multi-instance activity on its own): a `Compensable` in the scope the
  activity ran in. Nothing is kept for other activities, so the list holds at most one
  entry per completion of an activity the model marks as compensable; an entry goes when it
  is compensated, when its scope is cancelled, and when the case ends (the case's
  `EngineLimits.max_compensable` bounds a loop that completes one again and again).
- When an embedded subprocess (or a multi-instance instance) **completes**, what was
  installed inside it moves to the scope it completed in, with the local variables it ran
  with; if the subprocess has a compensation handler of its own, that handler undoes it
  instead (BPMN's rule), and the inner entries are dropped.
- A compensation intermediate throw or end event **throws** for one activity of its scope
  (``activityRef``, the completed subprocess's inner activities included when it names
  one without a handler of its own) or for all of them, also those of completed
  subprocesses in it; a throw inside an event subprocess also reaches its parent scope's
  activities. The throwing token waits while the handlers run **one after another, in
  reverse order of completion**, each entry at most once; then it goes on (an end event
  ends). An activity that did not complete, or was compensated already, is not.
- A **handler** runs in a scope of its own under the throwing token's scope: it sees the
  case's current variables (Camunda 8's rule), overlaid by the local variables kept for
  the completed activity (a multi-instance instance's element and ``loopCounter``). A
  handler that fails parks in an incident as any activity does, and the throw waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from process_models.compensation import activity_ref
from process_models.schema import FlowNode
from workflows.state import ROOT_SCOPE, Compensable, CompensationRun, Scope, Token

if TYPE_CHECKING:
    from workflows.interpreter import Interpreter

__all__ = ["RUN_PREFIX", "Compensator"]

RUN_PREFIX = "~comp"
"""The id prefix of a `CompensationRun` (`InstanceState.next_id("comp")`), which also
owns its handler's scope."""


class Compensator:
    """The compensation half of an `Interpreter` (it changes the interpreter's state)."""

    def __init__(self, interpreter: Interpreter) -> None:
        self.interpreter = interpreter

    # --- installing ---------------------------------------------------------------------

    def install(self, token: Token, node: FlowNode, *, scope: Scope | None = None) -> bool:
        """``node`` completed with ``token``: install its compensation if it has a handler.
        ``scope``: the multi-instance instance scope it completed in, which ends with it.
        False when the case holds ``max_compensable`` already (its `EngineLimits`;
        nothing is installed)."""
        state = self.interpreter.state
        if scope is not None:
            self.scope_completed(scope.id, into=scope.parent_id, element_id=node.id)
        link = self.interpreter.model.compensation.get(node.id)
        if link is None:
            return True
        if len(state.compensable) >= self.interpreter.limits.max_compensable:
            return False
        state.compensable.append(
            Compensable(
                activity_id=token.activity_id or node.id,
                element_id=node.id,
                handler_id=link.handler_id,
                scope_id=scope.parent_id if scope is not None else token.scope_id,
                variables=dict(scope.variables) if scope is not None else {},
            )
        )
        return True

    def scope_completed(self, scope_id: str, *, into: str, element_id: str) -> None:
        """The scope of a completed subprocess or instance of ``element_id`` ends: what was
        installed in it moves to ``into`` with the scope's local variables, or is dropped
        when ``element_id`` has a handler of its own (which undoes all of it)."""
        state = self.interpreter.state
        inside = [c for c in state.compensable if c.scope_id == scope_id]
        if not inside:
            return
        if element_id in self.interpreter.model.compensation:
            state.compensable = [c for c in state.compensable if c.scope_id != scope_id]
            return
        scope = state.scopes.get(scope_id)
        local = dict(scope.variables) if scope is not None else {}
        for entry in inside:
            entry.scope_id = into
            entry.via = element_id
            entry.variables = {**local, **entry.variables}

    def scope_cancelled(self, scope_id: str) -> None:
        """A scope ended without completing: what completed in it is not compensable."""
        state = self.interpreter.state
        if any(c.scope_id == scope_id for c in state.compensable):
            state.compensable = [c for c in state.compensable if c.scope_id != scope_id]

    # --- throwing -----------------------------------------------------------------------

    def throw(self, token: Token, node: FlowNode) -> None:
        """A compensation throw or end event: compensate, then let ``token`` go on."""
        interpreter, state = self.interpreter, self.interpreter.state
        scopes = {token.scope_id}
        scope = state.scopes.get(token.scope_id)
        owner = interpreter.model.nodes.get(scope.element_id) if scope is not None else None
        if scope is not None and owner is not None and owner.triggered_by_event:
            scopes.add(scope.parent_id)
        ref = activity_ref(node)
        chosen = [
            c
            for c in state.compensable
            if c.scope_id in scopes and (ref is None or ref in (c.element_id, c.via))
        ]
        interpreter._audit(
            "compensation_thrown", element_id=node.id, detail=f"{len(chosen)} to compensate"
        )
        taken = {id(c) for c in chosen}
        state.compensable = [c for c in state.compensable if id(c) not in taken]
        run = CompensationRun(
            id=state.next_id(RUN_PREFIX.removeprefix("~")),
            token_id=token.id,
            element_id=node.id,
            pending=list(reversed(chosen)),
        )
        state.compensations[run.id] = run
        token.status = "waiting"
        self._next(run)

    def _next(self, run: CompensationRun) -> None:
        """Start the next handler of ``run``; when none is left, the throw goes on."""
        interpreter, state = self.interpreter, self.interpreter.state
        token = state.tokens.get(run.token_id)
        if not run.pending or token is None:
            del state.compensations[run.id]
            if token is not None:
                if run.current is not None:
                    interpreter._audit("compensation_completed", element_id=run.element_id)
                token.phase = "complete"
                token.status = "ready"
            return
        entry = run.pending.pop(0)
        run.current = entry
        scope = Scope(
            id=state.next_id("scope"),
            # The throw event, which holds nothing: an error thrown in the handler is not
            # caught by an event subprocess of the compensated activity.
            element_id=run.element_id,
            parent_id=token.scope_id,
            activity_id=run.id,
            variables=dict(entry.variables),
        )
        state.scopes[scope.id] = scope
        run.handler_scope = scope.id
        interpreter._audit("compensating", element_id=entry.handler_id, task_id=entry.activity_id)
        interpreter._new_token(entry.handler_id, scope.id)

    # --- handlers ending ----------------------------------------------------------------

    def scope_done(self, scope_id: str) -> bool:
        """Whether ``scope_id`` (whose last token is gone) is a handler's scope: then the
        handler is done and the next one starts (or the throw goes on)."""
        state = self.interpreter.state
        scope = state.scopes.get(scope_id)
        if scope is None or not scope.activity_id.startswith(RUN_PREFIX):
            return False
        del state.scopes[scope_id]
        run = state.compensations.get(scope.activity_id)
        if run is not None and run.handler_scope == scope_id:
            run.handler_scope = None
            self._next(run)
        return True

    def token_dropped(self, token: Token) -> None:
        """A token was removed by an interruption or an operator: a throwing token ends its
        run (its handler's scope goes with the throw's scope); a handler's token ends its
        handler without compensating, and the next one starts."""
        state = self.interpreter.state
        for run in list(state.compensations.values()):
            if run.token_id == token.id:
                del state.compensations[run.id]
                return
        scope_id = token.scope_id
        if scope_id == ROOT_SCOPE or any(t.scope_id == scope_id for t in state.tokens.values()):
            return
        if any(run.handler_scope == scope_id for run in state.compensations.values()):
            self.interpreter._audit("compensation_cancelled", element_id=token.node_id)
            self.scope_done(scope_id)

    def case_ended(self) -> None:
        """Nothing is compensable after the case ends."""
        self.interpreter.state.compensable.clear()
        self.interpreter.state.compensations.clear()
