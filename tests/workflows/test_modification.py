"""An operator's modification of a running case (the ``modify`` update) on a real Temporal
server: a case sent down the wrong branch repaired, a modification that would strand the
case refused with the case left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from starter.audit import build_trail, load_case
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, bpmn, running_cases
from workflows.migration import MODIFY_UPDATE, ModifyInput, ModifyResult

OPERATOR = OFFICER.model_copy(update={"subject": "operator-1", "roles": ["operator"]})

DECISION = bpmn("""
<bpmn:process id="decision" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:exclusiveGateway id="Decide" default="fNo"/>
  <bpmn:sequenceFlow id="fYes" sourceRef="Decide" targetRef="Grant">
    <bpmn:conditionExpression>=approved</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fNo" sourceRef="Decide" targetRef="RejectionLetter"/>
  <bpmn:userTask id="Grant" name="Bevilja"/>
  <bpmn:userTask id="RejectionLetter" name="Avslagsbrev"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Grant" targetRef="Granted"/>
  <bpmn:sequenceFlow id="f3" sourceRef="RejectionLetter" targetRef="Rejected"/>
  <bpmn:endEvent id="Granted" name="Beviljad"/>
  <bpmn:endEvent id="Rejected" name="Avslagen"/>
</bpmn:process>
""")


async def _modify(handle, **fields) -> ModifyResult:
    return await handle.execute_update(
        MODIFY_UPDATE, ModifyInput(actor=OPERATOR, **fields), result_type=ModifyResult
    )


async def test_modification_repairs_a_case_sent_down_the_wrong_branch(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(DECISION)
        # Registered wrongly: the application was approved.
        handle = await cases.start("decision", {"approved": False})
        assert [t.task_id for t in (await cases.view(handle)).open_tasks] == ["RejectionLetter"]

        result = await _modify(
            handle,
            cancel=["RejectionLetter"],
            start_before=["Grant"],
            variables={"approved": True},
            reason="the decision was registered as a rejection by mistake",
        )
        assert result.changes == [
            "cancelled RejectionLetter",
            "started before Grant",
            "variables set: approved",
        ]
        view = await cases.view(handle)
        assert [t.task_id for t in view.open_tasks] == ["Grant"]
        assert view.variables["approved"] is True
        state = await cases.internal(handle)
        modified = [e for e in state.audit if e.kind == "modified"]
        assert len(modified) == 1
        assert modified[0].actor == "operator-1"
        assert modified[0].detail is not None
        assert modified[0].detail.startswith("the decision was registered as a rejection")

        await cases.complete(handle, "Grant")
        assert (await handle.result()).outcome == "Beviljad"
        # The exported trail shows the repair, who made it and why.
        trail = build_trail(await load_case(handle.id, client=client))
        [repair] = [d for d in trail.decisions if d.kind == "modified"]
        assert repair.actor == "operator-1"
        assert repair.payload == {"approved": True}
        assert repair.detail == (
            "the decision was registered as a rejection by mistake (cancelled "
            "RejectionLetter; started before Grant; variables set: approved)"
        )


async def test_a_modification_that_would_strand_the_case_is_refused(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(DECISION)
        handle = await cases.start("decision", {"approved": True})
        before = await cases.internal(handle)

        with pytest.raises(WorkflowUpdateFailedError) as stranded:
            await _modify(handle, cancel=["Grant"], reason="wrong")
        assert "nothing to wait for" in str(stranded.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await _modify(handle, start_before=["Nowhere"], reason="wrong")
        assert "cannot start before 'Nowhere': no such element" in str(unknown.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as inactive:
            await _modify(handle, cancel=["RejectionLetter"], reason="wrong")
        assert "nothing active at 'RejectionLetter'" in str(inactive.value.cause)

        after = await cases.internal(handle)
        assert after == before
        # Refused in the validator: none of the refusals reached the history.
        history = await handle.fetch_history()
        assert not [
            e
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]


NESTED = bpmn("""
<bpmn:process id="nested" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Sub"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Other"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Draft"/>
    <bpmn:userTask id="Draft"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Draft" targetRef="Check"/>
    <bpmn:userTask id="Check"/>
    <bpmn:sequenceFlow id="s3" sourceRef="Check" targetRef="SubEnd"/>
    <bpmn:endEvent id="SubEnd"/>
  </bpmn:subProcess>
  <bpmn:userTask id="Other"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Sub" targetRef="End"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Other" targetRef="End2"/>
  <bpmn:endEvent id="End"/>
  <bpmn:endEvent id="End2"/>
</bpmn:process>
""")


def test_a_token_starts_in_its_running_subprocess_and_an_emptied_one_is_cancelled(
    tmp_path: Path,
):
    from datetime import UTC, datetime

    from process_models.deployments import ModelFile, ModelStore
    from process_models.store import FileBlobStore
    from tests.workflows.harness import registry_with_test_types
    from workflows.interpreter import Interpreter, ModificationRefusedError
    from workflows.model import ExecutableModel
    from workflows.state import InstanceState

    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="n.bpmn", content=NESTED.encode())])
    model = ExecutableModel(store.source("nested", 1))
    now = datetime(2026, 5, 4, 10, tzinfo=UTC)
    interpreter = Interpreter(
        model, InstanceState(process_id="nested", version=1, business_key="k", title="t")
    )
    interpreter.start(now, start_event=None, actor=None)
    interpreter.run(now)
    [scope] = interpreter.state.scopes.values()

    def modify(cancel: list[str], start_before: list[str]) -> list[str]:
        return interpreter.modify(
            cancel=cancel,
            start_before=start_before,
            variables={},
            reason="repair",
            actor="operator-1",
            now=now,
        )

    # Into the running subprocess: the token joins its scope.
    assert modify(cancel=["Draft"], start_before=["Check"]) == [
        "cancelled Draft",
        "started before Check",
    ]
    interpreter.run(now)
    assert interpreter.state.activities["Check"].scope_id == scope.id
    # Emptied, the subprocess is cancelled with it; the other branch goes on.
    assert modify(cancel=["Check"], start_before=[]) == [
        "cancelled Check",
        "cancelled Sub (nothing left in it)",
    ]
    assert sorted(interpreter.state.activities) == ["Other"]
    assert interpreter.state.scopes == {}
    # Into a subprocess that no longer runs: refused, nothing changed.
    before = interpreter.state.model_dump()
    with pytest.raises(ModificationRefusedError, match="subprocess 'Sub' has no running"):
        modify(cancel=[], start_before=["Draft"])
    assert interpreter.state.model_dump() == before
