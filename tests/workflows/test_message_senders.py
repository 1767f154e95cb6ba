"""A kept (buffered) message keeps its sender: it reaches only a subscription whose
candidates admit that sender, and when its ``ttl`` runs out unused the trail says so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows.candidates import Actor

ROUTED = bpmn("""
<bpmn:message id="MsgNote" name="note"/>
<bpmn:process id="routed" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Route"/>
  <bpmn:userTask id="Route"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Route" targetRef="Note"/>
  <bpmn:intermediateCatchEvent id="Note">
    <bpmn:extensionElements>
      <niva:subscription candidateOrgs="=region" ttl="P1D"/>
    </bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgNote"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Note" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
"""Route sets ``region``; the note is taken only from that region, and kept for a day."""


def region(org: str) -> Actor:
    return Actor(subject=f"registrator@{org}", org=org, roles=["registrator"])


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


async def test_kept_message_for_another_region_expires_with_a_trail_entry(
    cases: Cases, time_skipping_env: WorkflowEnvironment
):
    cases.deploy(ROUTED)
    handle = await cases.start("routed", {"region": "SE-AB"})
    kept = await cases.message(handle, "note", {"by": "SE-AB"}, actor=region("SE-AB"))
    assert kept.buffered
    await cases.complete(handle, "Route", {"region": "SE-C"})
    state = await cases.internal(handle)
    assert [(m.org, m.roles) for m in state.buffered] == [("SE-AB", ["registrator"])]
    assert [s.element_id for s in state.subscriptions.values()] == ["Note"]
    assert "SE-AB" not in state.participants

    await time_skipping_env.sleep(timedelta(days=2))
    delivered = await cases.message(handle, "note", {"by": "SE-C"}, actor=region("SE-C"))
    assert delivered.received_by == ["Note"]
    result = await handle.result()
    assert result.variables["by"] == "SE-C"
    state = await cases.internal(handle)
    assert state.buffered == []
    [expired] = [e for e in state.audit if e.kind == "message_expired"]
    assert (expired.detail, expired.actor, expired.org) == ("note", "registrator@SE-AB", "SE-AB")
