"""The shape of a model's graph that the interpreter asks about again and again.

Built once per `ExecutableModel` (``model.graph``) and shared by every case of the version:

- **Link events**: an intermediate throw link event jumps to the catch link event of the
  same name in the same process or subprocess (validation has checked there is one).
- **Inclusive joins**: an inclusive gateway with several incoming flows fires when a token
  has arrived and no other token of its scope can still reach one of its incoming flows
  that has no token yet, without passing the gateway itself (BPMN's rule). Which nodes can
  still reach an incoming flow depends on the model only, so it is computed here, once
  (`feeders`): a token stands at a node of its scope (a task, a subprocess or
  multi-instance body it waits in, a catch event, a gateway), and can reach the flow if
  that node feeds it. The paths counted are the sequence flows, an activity's boundary
  events (a timer or message on a task can still send a token on) and link events.
- A join that fired and whose start listeners run (Camunda 8) keeps the token its firing
  made at the join until they have run: that token is no arrival (the tokens that arrive
  meanwhile wait for the next firing) and it moves by itself (the joins after it wait for
  it, never as in a deadlock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set

from process_models.links import link_targets
from process_models.schema import FlowContainer
from workflows.state import Token

__all__ = ["FlowGraph"]


class FlowGraph:
    """Link targets and inclusive joins' upstream nodes of every container of a model."""

    def __init__(self, containers: Iterable[FlowContainer]) -> None:
        self.link_targets: dict[str, str] = {}
        """Each throw link event's id -> the id of its catch link event."""
        self.feeders: dict[str, dict[str, frozenset[str]]] = {}
        """Each inclusive join's id -> each of its incoming flows -> the nodes of its
        container from which a token can reach that flow without passing the join."""
        self.upstream: dict[str, frozenset[str]] = {}
        """Each inclusive join's id -> the nodes that feed one of its incoming flows."""
        for container in containers:
            links = link_targets(container)
            self.link_targets.update(links)
            self._joins(container, links)

    def _joins(self, container: FlowContainer, links: Mapping[str, str]) -> None:
        # Node id -> the nodes a token at it may have come from directly.
        came_from: dict[str, list[str]] = {}
        for flow in container.flows:
            if flow.source_ref and flow.target_ref:
                came_from.setdefault(flow.target_ref, []).append(flow.source_ref)
        for node in container.nodes:
            if node.kind == "boundaryEvent" and node.attached_to_ref:
                came_from.setdefault(node.id, []).append(node.attached_to_ref)
        for throw_id, catch_id in links.items():
            came_from.setdefault(catch_id, []).append(throw_id)
        for node in container.nodes:
            if node.kind != "inclusiveGateway" or len(container.incoming(node.id)) <= 1:
                continue
            feeders = {
                flow.id: _ancestors(flow.source_ref or "", node.id, came_from)
                for flow in container.incoming(node.id)
            }
            self.feeders[node.id] = feeders
            self.upstream[node.id] = frozenset().union(*feeders.values())

    def join_to_fire(self, tokens: Sequence[Token], joined: Set[str] = frozenset()) -> Token | None:
        """A token waiting at an inclusive join that may fire now (the first in ``tokens``'
        order), or None. ``joined``: the tokens that firings made, waiting at their joins
        while the joins' start listeners run.

        A join fires when no other token of its scope can still reach one of its incoming
        flows that no token has arrived by (`feeders`), and none of the tokens at it waits
        in an incident (its retry would arrive again). Joins that can only wait for each
        other (around a loop: each one's tokens upstream of the other) would wait for ever:
        then the first of them fires, so a case never waits for tokens that can only come
        from itself.
        """
        if not self.upstream:
            return None
        arrived = [
            t
            for t in tokens
            if t.node_id in self.upstream and t.status == "waiting" and t.id not in joined
        ]
        if not arrived:
            return None
        in_scope: dict[str, list[Token]] = {t.scope_id: [] for t in arrived}
        for token in tokens:
            if token.scope_id in in_scope:
                in_scope[token.scope_id].append(token)
        for token in arrived:
            if not self._blockers(token.node_id, in_scope[token.scope_id], joined):
                return token
        for scope_id, scope_tokens in in_scope.items():
            stuck = self._deadlocked(scope_tokens, joined)
            first = next(
                (t for t in arrived if t.scope_id == scope_id and t.node_id in stuck), None
            )
            if first is not None:
                return first
        return None

    def _blockers(
        self, join_id: str, scope_tokens: Sequence[Token], joined: Set[str]
    ) -> list[Token]:
        """The tokens of the scope a join waits for: those that can still reach an
        incoming flow no token has arrived by, and its own tokens in an incident."""
        at_join = [t for t in scope_tokens if t.node_id == join_id and t.id not in joined]
        arrived = {t.via_flow for t in at_join if t.status == "waiting"}
        feeding: set[str] = set()
        for flow_id, nodes in self.feeders[join_id].items():
            if flow_id not in arrived:
                feeding |= nodes
        return [t for t in scope_tokens if t.node_id in feeding] + [
            t for t in at_join if t.status == "incident"
        ]

    def _deadlocked(self, scope_tokens: Sequence[Token], joined: Set[str]) -> set[str]:
        """The joins of one scope with arrived tokens that wait only for each other: not
        for a token that can still move by itself (a task, a timer, an incident, a fired
        join's start listeners), nor for a join that does."""
        waiting = {t.node_id for t in scope_tokens if t.node_id in self.upstream}
        live = {
            t.node_id
            for t in scope_tokens
            if t.node_id in waiting and (t.status != "waiting" or t.id in joined)
        }
        changed = True
        while changed:
            changed = False
            for join_id in sorted(waiting - live):  # sorted: no set order in a workflow
                if any(
                    t.node_id not in waiting or t.node_id in live or t.status != "waiting"
                    for t in self._blockers(join_id, scope_tokens, joined)
                ):
                    live.add(join_id)
                    changed = True
        return waiting - live


def _ancestors(source: str, join_id: str, came_from: Mapping[str, list[str]]) -> frozenset[str]:
    """``source`` and every node a token can come from to reach it, never through the
    join: a token that would reach the join only by passing it (a loop back) is not
    waited for."""
    reached: set[str] = set()
    frontier = [source]
    while frontier:
        current = frontier.pop()
        if current == join_id or current in reached:
            continue
        reached.add(current)
        frontier.extend(came_from.get(current, []))
    return frozenset(reached)
