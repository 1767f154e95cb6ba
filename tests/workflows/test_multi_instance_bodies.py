"""Several bodies of one multi-instance activity running side by side in one scope (a
non-interrupting boundary event that leads to it fires twice): each instance completes its
own body."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


TWICE = bpmn("""
<bpmn:message id="MAgain" name="again"/>
<bpmn:process id="bodies_side_by_side" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait"/>
  <bpmn:userTask id="Wait"/>
  <bpmn:boundaryEvent id="Again" attachedToRef="Wait" cancelActivity="false">
    <bpmn:messageEventDefinition messageRef="MAgain"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Again" targetRef="Sign"/>
  <bpmn:userTask id="Sign">
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements><niva:loop inputCollection="=signers"/></bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Sign" targetRef="Signed"/>
  <bpmn:userTask id="Signed"/>
</bpmn:process>
""")


async def test_each_instance_completes_its_own_body(cases: Cases):
    cases.deploy(TWICE)
    handle = await cases.start("bodies_side_by_side", {"signers": ["x", "y"]})
    await cases.message(handle, "again")
    await cases.message(handle, "again")
    tasks = sorted(t.task_id for t in (await cases.view(handle)).open_tasks)
    assert tasks == ["Sign:x", "Sign:x#2", "Sign:y", "Sign:y#2", "Wait"]
    # Both instances of the second body: it completes, the first one still waits.
    await cases.complete(handle, "Sign:x#2")
    await cases.complete(handle, "Sign:y#2")
    state = await cases.internal(handle)
    bodies = {a.id: a.multi for a in state.activities.values() if a.multi is not None}
    assert list(bodies) == ["Sign"]
    assert sorted(t.task_id for t in (await cases.view(handle)).open_tasks) == [
        "Sign:x",
        "Sign:y",
        "Signed",
        "Wait",
    ]
    await cases.complete(handle, "Sign:x")
    await cases.complete(handle, "Sign:y")
    tasks = sorted(t.task_id for t in (await cases.view(handle)).open_tasks)
    assert tasks == ["Signed", "Signed#2", "Wait"]
