"""Inclusive gateways: fork by every condition that holds, join what can still arrive."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from process_models.bpmn import read_bpmn
from process_models.validation import check_model
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import RetryIncidentInput
from workflows.flow_graph import FlowGraph
from workflows.state import Token


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


# Two reviews, each asked for by a condition; the decision waits for the reviews that run.
REVIEWS = bpmn("""
<bpmn:process id="reviews" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:inclusiveGateway id="Fork" default="fNone"/>
  <bpmn:sequenceFlow id="fEnv" sourceRef="Fork" targetRef="Environment">
    <bpmn:conditionExpression>=environment</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fHealth" sourceRef="Fork" targetRef="Health">
    <bpmn:conditionExpression>=health</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fNone" sourceRef="Fork" targetRef="Join"/>
  <bpmn:userTask id="Environment"/>
  <bpmn:userTask id="Health"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Environment" targetRef="Join"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Health" targetRef="Join"/>
  <bpmn:inclusiveGateway id="Join"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Join" targetRef="Decide"/>
  <bpmn:userTask id="Decide"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End" name="Beslutat"/>
</bpmn:process>
""")


async def test_inclusive_join_does_not_wait_for_a_branch_whose_condition_was_false(
    cases: Cases, record_history
):
    cases.deploy(REVIEWS)
    handle = await cases.start("reviews", {"environment": True, "health": False})
    view = await cases.view(handle)
    assert [t.task_id for t in view.open_tasks] == ["Environment"]
    await cases.complete(handle, "Environment")
    view = await cases.view(handle)
    assert [t.task_id for t in view.open_tasks] == ["Decide"]
    await cases.complete(handle, "Decide")
    assert (await handle.result()).outcome == "Beslutat"
    await record_history(handle, "engine_inclusive_join_skips_false_branch")


async def test_inclusive_join_waits_for_every_branch_that_runs(cases: Cases):
    cases.deploy(REVIEWS)
    handle = await cases.start("reviews", {"environment": True, "health": True})
    view = await cases.view(handle)
    assert sorted(t.task_id for t in view.open_tasks) == ["Environment", "Health"]
    await cases.complete(handle, "Health")
    view = await cases.view(handle)
    # The environment review can still reach the join: it waits.
    assert [t.task_id for t in view.open_tasks] == ["Environment"]
    assert sorted(t.node_id for t in view.tokens) == ["Environment", "Join"]
    await cases.complete(handle, "Environment")
    view = await cases.view(handle)
    assert [t.task_id for t in view.open_tasks] == ["Decide"]
    # One token went on from the join.
    assert [t.node_id for t in view.tokens] == ["Decide"]


async def test_inclusive_fork_takes_the_default_flow_when_no_condition_holds(cases: Cases):
    cases.deploy(REVIEWS)
    handle = await cases.start("reviews", {"environment": False, "health": False})
    view = await cases.view(handle)
    assert [t.task_id for t in view.open_tasks] == ["Decide"]


NO_WAY_OUT = bpmn("""
<bpmn:process id="inclusive_no_way_out" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:inclusiveGateway id="Fork"/>
  <bpmn:sequenceFlow id="fA" sourceRef="Fork" targetRef="A">
    <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fB" sourceRef="Fork" targetRef="B">
    <bpmn:conditionExpression>=amount &gt; 10</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:endEvent id="A"/>
  <bpmn:endEvent id="B" name="B"/>
</bpmn:process>
""")


async def test_inclusive_fork_with_no_way_out_parks_its_token_until_a_retry(cases: Cases):
    cases.deploy(NO_WAY_OUT)
    handle = await cases.start("inclusive_no_way_out", {"amount": 5})
    state = await cases.internal(handle)
    [incident] = state.incidents.values()
    assert incident.kind == "gateway"
    assert incident.element_id == "Fork"
    assert "inclusive gateway" in incident.message
    assert state.tokens[incident.token_id or ""].status == "incident"
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident.id, variables={"amount": 50}, actor=OFFICER),
    )
    assert (await handle.result()).outcome == "B"


# A join that also forks: when its fork has no way out, the joined token waits in the
# incident; the token of the other branch waits at the join for the retry.
JOIN_THEN_NO_WAY_OUT = bpmn("""
<bpmn:process id="join_no_way_out" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="A"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="B"/>
  <bpmn:userTask id="A"/>
  <bpmn:userTask id="B"/>
  <bpmn:sequenceFlow id="f4" sourceRef="A" targetRef="Mixed"/>
  <bpmn:sequenceFlow id="f5" sourceRef="B" targetRef="Mixed"/>
  <bpmn:inclusiveGateway id="Mixed"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Mixed" targetRef="Yes">
    <bpmn:conditionExpression>=go</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f7" sourceRef="Mixed" targetRef="Also">
    <bpmn:conditionExpression>=go</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:endEvent id="Yes" name="Yes"/>
  <bpmn:endEvent id="Also" name="Also"/>
</bpmn:process>
""")


async def test_a_join_whose_fork_fails_keeps_its_tokens_and_fires_again_on_retry(cases: Cases):
    cases.deploy(JOIN_THEN_NO_WAY_OUT)
    handle = await cases.start("join_no_way_out", {"go": False})
    await cases.complete(handle, "A")
    await cases.complete(handle, "B")
    state = await cases.internal(handle)
    [incident] = state.incidents.values()
    assert incident.element_id == "Mixed"
    assert sorted(t.status for t in state.tokens.values()) == ["incident", "waiting"]
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident.id, variables={"go": True}, actor=OFFICER),
    )
    assert (await handle.result()).outcome == "Also"
    trail = (await cases.internal(handle)).audit
    assert [e.element_id for e in trail if e.kind == "incident"] == ["Mixed"]


# One branch waits for a timer, the other for a subprocess: the join waits for both.
TIMER_AND_SUBPROCESS = bpmn("""
<bpmn:process id="inclusive_waits" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:inclusiveGateway id="Fork"/>
  <bpmn:sequenceFlow id="fW" sourceRef="Fork" targetRef="Wait">
    <bpmn:conditionExpression>=true</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fS" sourceRef="Fork" targetRef="Sub">
    <bpmn:conditionExpression>=true</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Work"/>
    <bpmn:userTask id="Work"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="Join"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Sub" targetRef="Join"/>
  <bpmn:inclusiveGateway id="Join"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


async def test_inclusive_join_waits_for_a_timer_and_a_subprocess(
    cases: Cases, time_skipping_env: WorkflowEnvironment
):
    cases.deploy(TIMER_AND_SUBPROCESS)
    started = await time_skipping_env.get_current_time()
    handle = await cases.start("inclusive_waits")
    await cases.complete(handle, "Work")
    view = await cases.view(handle)
    assert view.status == "running"
    assert sorted(t.node_id for t in view.tokens) == ["Join", "Wait"]
    result = await handle.result()
    assert result.outcome == "Klar"
    assert await time_skipping_env.get_current_time() >= started + timedelta(days=30)


# Ask's only way to the join is its boundary message; Sign is a multi-instance body.
BOUNDARY_AND_MULTI = bpmn("""
<bpmn:message id="MAsk" name="ask"/>
<bpmn:process id="inclusive_boundary" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:inclusiveGateway id="Fork"/>
  <bpmn:sequenceFlow id="fS" sourceRef="Fork" targetRef="Sign">
    <bpmn:conditionExpression>=size(signers) &gt; 0</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fA" sourceRef="Fork" targetRef="Ask">
    <bpmn:conditionExpression>=true</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:userTask id="Sign">
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements><niva:loop inputCollection="=signers"/></bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:userTask id="Ask"/>
  <bpmn:boundaryEvent id="Asked" attachedToRef="Ask" cancelActivity="false">
    <bpmn:messageEventDefinition messageRef="MAsk"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Sign" targetRef="Join"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Asked" targetRef="Join"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Ask" targetRef="NoQuestion"/>
  <bpmn:endEvent id="NoQuestion"/>
  <bpmn:inclusiveGateway id="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Join" targetRef="Archive"/>
  <bpmn:userTask id="Archive"/>
</bpmn:process>
""")


async def test_inclusive_join_waits_for_a_boundary_path_and_a_multi_instance_body(cases: Cases):
    cases.deploy(BOUNDARY_AND_MULTI)
    handle = await cases.start("inclusive_boundary", {"signers": ["x", "y"]})
    await cases.complete(handle, "Sign:x")
    # Sign's body still waits for y; Ask can still send a token by its boundary event.
    await cases.complete(handle, "Ask")
    view = await cases.view(handle)
    assert sorted(t.task_id for t in view.open_tasks) == ["Sign:y"]
    await cases.complete(handle, "Sign:y")
    # Ask completed by its normal flow: nothing else can arrive, the join fired.
    assert [t.task_id for t in (await cases.view(handle)).open_tasks] == ["Archive"]
    other = await cases.start("inclusive_boundary", {"signers": ["x"]})
    await cases.complete(other, "Sign:x")
    view = await cases.view(other)
    assert sorted(t.node_id for t in view.tokens) == ["Ask", "Join"]
    await cases.message(other, "ask")
    # The boundary's token arrived by the other flow: the join fired with both, Ask stays.
    assert sorted(t.task_id for t in (await cases.view(other)).open_tasks) == ["Archive", "Ask"]


CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    modeler:executionPlatform="Camunda Cloud" id="defs" targetNamespace="urn:niva:test">
<bpmn:process id="c8_inclusive" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:inclusiveGateway id="Fork"/>
  <bpmn:sequenceFlow id="fA" sourceRef="Fork" targetRef="A">
    <bpmn:conditionExpression>=amount &gt; 100 and region = "AB"</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fB" sourceRef="Fork" targetRef="B">
    <bpmn:conditionExpression>=amount &gt; 10</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:userTask id="A"/>
  <bpmn:userTask id="B"/>
  <bpmn:sequenceFlow id="f2" sourceRef="A" targetRef="Join"/>
  <bpmn:sequenceFlow id="f3" sourceRef="B" targetRef="Join"/>
  <bpmn:inclusiveGateway id="Join"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
</bpmn:definitions>
"""


async def test_camunda8_inclusive_gateway_takes_its_feel_conditions(cases: Cases):
    cases.deploy(CAMUNDA8)
    handle = await cases.start("c8_inclusive", {"amount": 500, "region": "AB"})
    assert sorted(t.task_id for t in (await cases.view(handle)).open_tasks) == ["A", "B"]
    other = await cases.start("c8_inclusive", {"amount": 500, "region": "C"})
    assert [t.task_id for t in (await cases.view(other)).open_tasks] == ["B"]
    await cases.complete(other, "B")
    assert (await other.result()).outcome == "Klar"


# --- the join's reachability, without a server ---------------------------------------------

LOOP = bpmn("""
<bpmn:process id="loop" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Prepare"/>
  <bpmn:userTask id="Prepare"/>
  <bpmn:boundaryEvent id="Reminder" attachedToRef="Prepare" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Prepare" targetRef="Join"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Reminder" targetRef="Jump"/>
  <bpmn:intermediateThrowEvent id="Jump"><bpmn:linkEventDefinition name="again"/></bpmn:intermediateThrowEvent>
  <bpmn:intermediateCatchEvent id="Land"><bpmn:linkEventDefinition name="again"/></bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Land" targetRef="Join"/>
  <bpmn:inclusiveGateway id="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Join" targetRef="Check"/>
  <bpmn:userTask id="Check"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Check" targetRef="Join"/>
  <bpmn:userTask id="Elsewhere"/>
</bpmn:process>
""")


def _graph(document: str) -> FlowGraph:
    return FlowGraph([read_bpmn(document).processes[0]])


def _token(node_id: str, status: str = "waiting", scope: str = "~root") -> Token:
    return Token(id=f"~t-{node_id}-{status}", node_id=node_id, scope_id=scope, status=status)


def test_join_upstream_follows_boundary_events_and_links_but_not_the_join_itself():
    graph = _graph(LOOP)
    assert graph.link_targets == {"Jump": "Land"}
    # A token at the reminder's path, or in Check (which loops back), can still arrive.
    assert graph.upstream["Join"] == frozenset(
        {"Start", "Prepare", "Reminder", "Jump", "Land", "Check"}
    )
    assert "Elsewhere" not in graph.upstream["Join"]
    # A gateway with one incoming flow is no join.
    assert "Fork" not in _graph(REVIEWS).upstream


def test_join_fires_only_when_no_token_of_its_scope_can_still_arrive():
    graph = _graph(REVIEWS)
    at_join = _token("Join")
    assert graph.join_to_fire([at_join, _token("Health")]) is None
    assert graph.join_to_fire([at_join, _token("Health", scope="~scope9")]) is at_join
    assert graph.join_to_fire([at_join, _token("Decide")]) is at_join
    # A token of the join in an incident would arrive again when retried.
    assert graph.join_to_fire([at_join, _token("Join", "incident")]) is None
    # BPMN's rule: the join waits only for tokens that can reach a flow none came by yet.
    by_environment = at_join.model_copy(update={"via_flow": "f2"})
    assert graph.join_to_fire([by_environment, _token("Environment")]) is by_environment
    assert graph.join_to_fire([by_environment, _token("Health")]) is None


def test_joins_waiting_for_each_other_fire_rather_than_strand_the_case():
    document = bpmn("""
    <bpmn:process id="two_joins" isExecutable="true">
      <bpmn:startEvent id="Start"/>
      <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
      <bpmn:parallelGateway id="Fork"/>
      <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="J1"/>
      <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="J2"/>
      <bpmn:inclusiveGateway id="J1"/>
      <bpmn:inclusiveGateway id="J2"/>
      <bpmn:sequenceFlow id="f4" sourceRef="J1" targetRef="J2"/>
      <bpmn:sequenceFlow id="f5" sourceRef="J2" targetRef="J1"/>
      <bpmn:sequenceFlow id="f6" sourceRef="Fork" targetRef="Side"/>
      <bpmn:userTask id="Side"/>
    </bpmn:process>
    """)
    graph = _graph(document)
    first, second = _token("J1"), _token("J2")
    assert graph.join_to_fire([first, second]) is first
    # A task that can reach neither join does not keep them waiting for each other.
    assert graph.join_to_fire([first, second, _token("Side")]) is first
    # A token that can still arrive does, and so does one of theirs in an incident.
    assert graph.join_to_fire([first, second, _token("Start", "ready")]) is None
    assert graph.join_to_fire([first, second, _token("J2", "incident")]) is None


def test_inclusive_gateways_are_checked_like_exclusive_ones():
    assert check_model(read_bpmn(REVIEWS)).problems == []
    broken = REVIEWS.replace("=environment<", "=environment ||<").replace(
        'default="fNone"', 'default="f1"'
    )
    problems = {p.element_id: p.message for p in check_model(read_bpmn(broken)).problems}
    assert sorted(problems) == ["Fork", "fEnv", "fNone"]
    assert "default flow 'f1' is not an outgoing flow" in problems["Fork"]
    # As in Camunda 8, every flow but the default has a condition.
    assert problems["fNone"] == (
        "flow leaves inclusive gateway 'Fork' with no condition and is not its default flow"
    )
