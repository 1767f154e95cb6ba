"""Test models with signal events (``POST /signals/{name}``, `workflows.signals`)."""

from __future__ import annotations

import re

from tests.workflows.harness import bpmn

__all__ = ["END_THROWER", "REVIEW", "STARTED", "THROWER", "WAITER", "WATCH", "renamed"]


def renamed(document: str, suffix: str) -> str:
    """``document`` with ``suffix`` added to every signal's name.

    A signal reaches every case of the namespace waiting for it, and the dev server is
    shared by the whole test session: each test waits for signals of its own."""
    return re.sub(r'(<bpmn:signal id="[^"]+" name="[^"]+)"', rf'\1{suffix}"', document)


WAITER = bpmn("""
<bpmn:signal id="SigAlert" name="alert"/>
<bpmn:process id="sig_waiter" name="Waiter" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Alert"/>
  <bpmn:intermediateCatchEvent id="Alert" name="Larm">
    <bpmn:signalEventDefinition signalRef="SigAlert"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Alert" targetRef="Alerted"/>
  <bpmn:endEvent id="Alerted" name="Larmad"/>
</bpmn:process>
""")
"""Waits for ``alert`` (no candidates named: operators broadcast it), then ends."""

STARTED = bpmn("""
<bpmn:signal id="SigAlert" name="alert"/>
<bpmn:process id="sig_started" name="Started by alert" isExecutable="true">
  <bpmn:extensionElements>
    <niva:starters candidateGroups="operator"/>
  </bpmn:extensionElements>
  <bpmn:startEvent id="AlertStart">
    <bpmn:signalEventDefinition signalRef="SigAlert"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="AlertStart" targetRef="Handle"/>
  <bpmn:userTask id="Handle" name="Hantera">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="operator"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Handle" targetRef="Handled"/>
  <bpmn:endEvent id="Handled" name="Hanterad"/>
</bpmn:process>
""")
"""A case per ``alert``, started only by operators (its one starter group)."""

THROWER = bpmn("""
<bpmn:signal id="SigAlert" name="alert"/>
<bpmn:process id="sig_thrower" name="Thrower" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Raise"/>
  <bpmn:intermediateThrowEvent id="Raise" name="Larma">
    <bpmn:extensionElements>
      <niva:input source="=level" target="level"/>
    </bpmn:extensionElements>
    <bpmn:signalEventDefinition signalRef="SigAlert"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Raise" targetRef="Raised"/>
  <bpmn:endEvent id="Raised" name="Larmat"/>
</bpmn:process>
""")
"""Throws ``alert`` carrying ``level`` (its input mapping), then ends."""

END_THROWER = bpmn("""
<bpmn:signal id="SigAlert" name="alert"/>
<bpmn:process id="sig_end_thrower" name="End thrower" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="RaiseEnd"/>
  <bpmn:endEvent id="RaiseEnd" name="Larm och slut">
    <bpmn:signalEventDefinition signalRef="SigAlert"/>
  </bpmn:endEvent>
</bpmn:process>
""")
"""Ends by throwing ``alert`` without variables."""

REVIEW = bpmn("""
<bpmn:signal id="SigReminder" name="reminder"/>
<bpmn:signal id="SigAbort" name="abort review"/>
<bpmn:process id="sig_review" name="Review" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="Reminded" attachedToRef="Review" cancelActivity="false">
    <bpmn:extensionElements>
      <niva:subscription candidateOrgs="=region"/>
    </bpmn:extensionElements>
    <bpmn:signalEventDefinition signalRef="SigReminder"/>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Aborted" attachedToRef="Review">
    <bpmn:signalEventDefinition signalRef="SigAbort"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Reviewed"/>
  <bpmn:endEvent id="Reviewed" name="Granskad"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Reminded" targetRef="Noted"/>
  <bpmn:endEvent id="Noted" name="Påmind"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Aborted" targetRef="Stopped"/>
  <bpmn:endEvent id="Stopped" name="Avbruten"/>
</bpmn:process>
""")
"""A review task: ``reminder`` from the organisation ``region`` leaves it open (a
non-interrupting boundary), ``abort review`` (operators) ends it."""

WATCH = bpmn("""
<bpmn:signal id="SigAlert" name="alert"/>
<bpmn:process id="sig_watch" name="Watch" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work"/>
  <bpmn:userTask id="Work" name="Arbeta"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Klar"/>
  <bpmn:subProcess id="OnAlert" triggeredByEvent="true">
    <bpmn:startEvent id="AlertStart" isInterrupting="false">
      <bpmn:signalEventDefinition signalRef="SigAlert"/>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="s1" sourceRef="AlertStart" targetRef="AlertSeen"/>
    <bpmn:endEvent id="AlertSeen"/>
  </bpmn:subProcess>
</bpmn:process>
""")
"""A task, and a non-interrupting event subprocess that runs on every ``alert``."""
