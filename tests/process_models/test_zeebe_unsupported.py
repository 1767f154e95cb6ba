"""zeebe settings niva does not run yet are validation problems, never silently dropped;
execution and task listeners are read, and those niva cannot run as written (or Camunda
refuses where they stand) are problems naming the element and the line."""

from __future__ import annotations

from process_models.bpmn import read_bpmn
from process_models.validation import validate

LISTENERS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:process id="listeners" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:executionListeners>
        <zeebe:executionListener eventType="end" type="audit"/>
      </zeebe:executionListeners>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Pay"/>
    <bpmn:serviceTask id="Pay">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="pay"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="check" retries="5"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Pay" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:userTask/>
        <zeebe:taskListeners>
          <zeebe:taskListener eventType="completing" type="notify-done"/>
        </zeebe:taskListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_task_listeners_are_read_and_validate():
    document = read_bpmn(LISTENERS.encode())
    assert validate(document) == []
    [done] = document.processes[0].node("Review").niva.task_listeners
    assert (done.event_type, done.type, done.line) == ("completing", "notify-done", 25)


def test_execution_listeners_are_read_in_model_order():
    process = read_bpmn(LISTENERS.encode()).processes[0]
    [own] = process.execution_listeners
    assert (own.event_type, own.type, own.line) == ("end", "audit", 7)
    [check] = process.node("Pay").niva.execution_listeners
    assert (check.event_type, check.type, check.retries) == ("start", "check", "5")


def test_a_model_without_them_validates():
    plain = LISTENERS
    for start, end in (
        ("<zeebe:executionListeners>", "</zeebe:executionListeners>"),
        ("<zeebe:taskListeners>", "</zeebe:taskListeners>"),
    ):
        while start in plain:
            plain = plain[: plain.index(start)] + plain[plain.index(end) + len(end) :]
    assert validate(read_bpmn(plain.encode())) == []


MISTAKES = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:process id="mistakes" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Pay"/>
    <bpmn:serviceTask id="Pay">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="pay"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start"/>
          <zeebe:executionListener eventType="begin" type="a"/>
          <zeebe:executionListener eventType="end" type="b" retries="-1"/>
          <zeebe:executionListener eventType="end" type="b"/>
          <zeebe:executionListener eventType="start" type="notify"/>
          <zeebe:executionListener eventType="start" type="=kind"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Pay" targetRef="Split"/>
    <bpmn:exclusiveGateway id="Split">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="route"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Each"/>
    <bpmn:userTask id="Each">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="prepare"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:extensionElements>
          <zeebe:loopCharacteristics inputCollection="=regions" inputElement="region"/>
        </bpmn:extensionElements>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="Each" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_execution_listeners_niva_cannot_run_as_written_are_problems():
    # A gateway's start listener and a multi-instance task's (run for each instance) are
    # fine; the listeners' own mistakes are not.
    problems = validate(read_bpmn(MISTAKES.encode()))
    found = [(p.element_id, p.line, p.message.split(": ", 1)[1]) for p in problems]
    assert found == [
        ("Pay", 11, "the listener needs a type (the job type it runs)"),
        ("Pay", 12, "eventType must be start or end"),
        ("Pay", 13, "retries must be a positive whole number"),
        ("Pay", 14, "the end listener 'b' is given twice (Zeebe refuses it too)"),
        ("Pay", 15, "'notify' is niva's own task type; a listener runs as a job"),
        ("Pay", 16, "a computed listener type is not supported yet"),
    ]


PLACES = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:error id="Err" errorCode="E"/>
  <bpmn:process id="places" isExecutable="true">
    <bpmn:startEvent id="Start">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="a"/>
          <zeebe:executionListener eventType="end" type="b"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
    <bpmn:inclusiveGateway id="Split" default="f2">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="c"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:inclusiveGateway>
    <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Pay"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Join">
      <bpmn:conditionExpression>=true</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:serviceTask id="Pay">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="pay"/>
        <zeebe:taskListeners>
          <zeebe:taskListener eventType="creating" type="d"/>
        </zeebe:taskListeners>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="Late" attachedToRef="Pay">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="e"/>
          <zeebe:executionListener eventType="end" type="f"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Pay" targetRef="Join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Late" targetRef="Join"/>
    <bpmn:inclusiveGateway id="Join">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="g"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:inclusiveGateway>
    <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:taskListeners>
          <zeebe:taskListener eventType="create" type="h"/>
          <zeebe:taskListener eventType="assigning" type="i"/>
          <zeebe:taskListener eventType="canceling" type="j"/>
          <zeebe:taskListener eventType="closing" type="k"/>
        </zeebe:taskListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f7" sourceRef="Review" targetRef="Failed"/>
    <bpmn:endEvent id="Failed">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="l"/>
          <zeebe:executionListener eventType="end" type="m"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:errorEventDefinition errorRef="Err"/>
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_listeners_where_camunda_or_niva_does_not_run_them_are_problems():
    problems = validate(read_bpmn(PLACES.encode()))
    found = [(p.element_id, p.line, p.message.split(": ", 1)[1]) for p in problems]
    assert found == [
        (
            "Start",
            9,
            "a start event runs no start listener (Camunda's rule): use the process's or "
            "the subprocess's",
        ),
        (
            "Split",
            18,
            "a gateway runs no end listener (Camunda's rule): use a start listener of the "
            "element after it",
        ),
        ("Pay", 30, "task listeners run on user tasks only"),
        (
            "Late",
            37,
            "a boundary event runs no start listener (Camunda's rule): use the start "
            "listeners of the activity it is attached to",
        ),
        (
            "Review",
            57,
            "niva does not run assigning task listeners yet: niva assigns a task only when "
            "it opens (a creating listener may set the assignee then)",
        ),
        (
            "Review",
            58,
            "niva does not run canceling task listeners yet: niva cancels a task at once, "
            "without waiting for a job",
        ),
        ("Review", 59, "eventType must be creating or completing"),
        (
            "Failed",
            68,
            "an error end event runs no end listener (Camunda's rule): use the catching event's",
        ),
    ]


EVENT_SUBPROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:message id="M" name="cancel"/>
  <bpmn:process id="esp" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="End"/>
    <bpmn:endEvent id="End"/>
    <bpmn:subProcess id="Cancelled" triggeredByEvent="true">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="a"/>
          <zeebe:executionListener eventType="end" type="b"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:startEvent id="CancelStart">
        <bpmn:messageEventDefinition messageRef="M"/>
      </bpmn:startEvent>
      <bpmn:sequenceFlow id="c1" sourceRef="CancelStart" targetRef="CancelEnd"/>
      <bpmn:endEvent id="CancelEnd"/>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""


def test_an_event_subprocess_runs_end_listeners_and_not_start_listeners_yet():
    problems = validate(read_bpmn(EVENT_SUBPROCESS.encode()))
    assert [(p.element_id, p.line, p.message.split(": ", 1)[1]) for p in problems] == [
        (
            "Cancelled",
            12,
            "niva does not run start listeners on an event subprocess yet: model the "
            "listener's work as a service task before or after the element",
        )
    ]
