"""Small BPMN models without diagram interchange, as a modeller or a program writes them.

Each covers one thing the layout must draw well: gateways, boundary events, an embedded
subprocess, loops, multi-instance tasks, and all of them together in a referral process.
"""

from __future__ import annotations

__all__ = ["SAMPLES"]

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="Definitions_{pid}" targetNamespace="urn:niva:test">
  <bpmn:process id="{pid}" isExecutable="true">
"""
_TAIL = """  </bpmn:process>
</bpmn:definitions>
"""


def _model(pid: str, body: str) -> str:
    return _HEAD.format(pid=pid) + body + _TAIL


_TIMER_P10W = (
    "<bpmn:timerEventDefinition><bpmn:timeDuration>P10W</bpmn:timeDuration>"
    "</bpmn:timerEventDefinition>"
)

GATEWAYS = _model(
    "gateways",
    """
    <bpmn:startEvent id="start" name="Referral received"/>
    <bpmn:userTask id="review" name="Review referral"/>
    <bpmn:exclusiveGateway id="accepted" name="Accepted?" default="f_no"/>
    <bpmn:userTask id="plan" name="Plan care"/>
    <bpmn:sendTask id="reject" name="Send rejection"/>
    <bpmn:exclusiveGateway id="merge"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:serviceTask id="notify_region" name="Notify region"/>
    <bpmn:serviceTask id="notify_patient" name="Notify patient"/>
    <bpmn:serviceTask id="archive" name="Archive"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:endEvent id="end" name="Case closed"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="accepted"/>
    <bpmn:sequenceFlow id="f_yes" name="yes" sourceRef="accepted" targetRef="plan">
      <bpmn:conditionExpression>=accepted</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" name="no" sourceRef="accepted" targetRef="reject"/>
    <bpmn:sequenceFlow id="f3" sourceRef="plan" targetRef="merge"/>
    <bpmn:sequenceFlow id="f4" sourceRef="reject" targetRef="merge"/>
    <bpmn:sequenceFlow id="f5" sourceRef="merge" targetRef="fork"/>
    <bpmn:sequenceFlow id="f6" sourceRef="fork" targetRef="notify_region"/>
    <bpmn:sequenceFlow id="f7" sourceRef="fork" targetRef="notify_patient"/>
    <bpmn:sequenceFlow id="f8" sourceRef="fork" targetRef="archive"/>
    <bpmn:sequenceFlow id="f9" sourceRef="notify_region" targetRef="join"/>
    <bpmn:sequenceFlow id="f10" sourceRef="notify_patient" targetRef="join"/>
    <bpmn:sequenceFlow id="f11" sourceRef="archive" targetRef="join"/>
    <bpmn:sequenceFlow id="f12" sourceRef="join" targetRef="end"/>
""",
)

BOUNDARY_EVENTS = _model(
    "boundary_events",
    f"""
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="report" name="Write expert report"/>
    <bpmn:boundaryEvent id="reminder" name="Every week" attachedToRef="report"
        cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeCycle>R/P7D</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="deadline" name="Deadline" attachedToRef="report">
      {_TIMER_P10W}
    </bpmn:boundaryEvent>
    <bpmn:sendTask id="send_reminder" name="Send reminder"/>
    <bpmn:endEvent id="reminded"/>
    <bpmn:userTask id="escalate" name="Escalate to board"/>
    <bpmn:endEvent id="escalated" name="Escalated"/>
    <bpmn:userTask id="decide" name="Decide"/>
    <bpmn:endEvent id="end" name="Decided"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="report"/>
    <bpmn:sequenceFlow id="f2" sourceRef="report" targetRef="decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="reminder" targetRef="send_reminder"/>
    <bpmn:sequenceFlow id="f5" sourceRef="send_reminder" targetRef="reminded"/>
    <bpmn:sequenceFlow id="f6" sourceRef="deadline" targetRef="escalate"/>
    <bpmn:sequenceFlow id="f7" sourceRef="escalate" targetRef="escalated"/>
""",
)

SUBPROCESS = _model(
    "subprocess",
    """
    <bpmn:startEvent id="start"/>
    <bpmn:subProcess id="review" name="Expert review">
      <bpmn:startEvent id="review_start"/>
      <bpmn:userTask id="appoint" name="Appoint experts"/>
      <bpmn:subProcess id="opinions" name="Collect opinions">
        <bpmn:startEvent id="opinions_start"/>
        <bpmn:userTask id="opinion" name="Give opinion"/>
        <bpmn:endEvent id="opinions_end"/>
        <bpmn:sequenceFlow id="o1" sourceRef="opinions_start" targetRef="opinion"/>
        <bpmn:sequenceFlow id="o2" sourceRef="opinion" targetRef="opinions_end"/>
      </bpmn:subProcess>
      <bpmn:endEvent id="review_end"/>
      <bpmn:sequenceFlow id="r1" sourceRef="review_start" targetRef="appoint"/>
      <bpmn:sequenceFlow id="r2" sourceRef="appoint" targetRef="opinions"/>
      <bpmn:sequenceFlow id="r3" sourceRef="opinions" targetRef="review_end"/>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="withdrawn" name="Withdrawn" attachedToRef="review">
      <bpmn:messageEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="decide" name="Decide"/>
    <bpmn:endEvent id="end"/>
    <bpmn:endEvent id="end_withdrawn" name="Withdrawn"/>
    <bpmn:subProcess id="on_message" triggeredByEvent="true" name="Deadline moved">
      <bpmn:startEvent id="moved" isInterrupting="false">
        <bpmn:messageEventDefinition/>
      </bpmn:startEvent>
      <bpmn:serviceTask id="log_move" name="Record new deadline"/>
      <bpmn:endEvent id="moved_end"/>
      <bpmn:sequenceFlow id="m1" sourceRef="moved" targetRef="log_move"/>
      <bpmn:sequenceFlow id="m2" sourceRef="log_move" targetRef="moved_end"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="withdrawn" targetRef="end_withdrawn"/>
""",
)

LOOPS = _model(
    "loops",
    """
    <bpmn:startEvent id="start" name="Service approved"/>
    <bpmn:userTask id="advertise" name="Advertise position"/>
    <bpmn:intermediateCatchEvent id="wait" name="4 weeks">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P4W</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:exclusiveGateway id="enough" name="Enough applicants?"/>
    <bpmn:userTask id="allocate" name="Allocate"/>
    <bpmn:intermediateCatchEvent id="year" name="1 March">
      <bpmn:timerEventDefinition><bpmn:timeDate>=next_march(now)</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="report" name="Annual report"/>
    <bpmn:exclusiveGateway id="continue" name="Continue?"/>
    <bpmn:endEvent id="end" name="Service ended"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="advertise"/>
    <bpmn:sequenceFlow id="f2" sourceRef="advertise" targetRef="wait"/>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="enough"/>
    <bpmn:sequenceFlow id="f4" name="no" sourceRef="enough" targetRef="advertise"/>
    <bpmn:sequenceFlow id="f5" name="yes" sourceRef="enough" targetRef="allocate"/>
    <bpmn:sequenceFlow id="f6" sourceRef="allocate" targetRef="year"/>
    <bpmn:sequenceFlow id="f7" sourceRef="year" targetRef="report"/>
    <bpmn:sequenceFlow id="f8" sourceRef="report" targetRef="continue"/>
    <bpmn:sequenceFlow id="f9" name="yes" sourceRef="continue" targetRef="year"/>
    <bpmn:sequenceFlow id="f10" name="no" sourceRef="continue" targetRef="end"/>
""",
)

MULTI_INSTANCE = _model(
    "multi_instance",
    """
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="ask_regions" name="Ask every region">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:extensionElements>
          <niva:loop inputCollection="=regions" inputElement="region"
              outputCollection="answers" outputElement="=payload"/>
        </bpmn:extensionElements>
        <bpmn:completionCondition>=size(answers) == size(regions)</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="answers_due" name="Answers due" attachedToRef="ask_regions">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P6W</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="letters" name="Send letters">
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality>=3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask_regions"/>
    <bpmn:sequenceFlow id="f2" sourceRef="ask_regions" targetRef="letters"/>
    <bpmn:sequenceFlow id="f3" sourceRef="letters" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="answers_due" targetRef="letters"/>
""",
)

REFERRAL = _model(
    "nhv_referral",
    """
    <bpmn:startEvent id="nominated" name="Nomination received"/>
    <bpmn:userTask id="register" name="Register nomination"/>
    <bpmn:exclusiveGateway id="complete" name="Complete?" default="ok"/>
    <bpmn:sendTask id="ask_complement" name="Ask for complement"/>
    <bpmn:receiveTask id="get_complement" name="Receive complement"/>
    <bpmn:boundaryEvent id="complement_late" name="30 days" attachedToRef="get_complement">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="dropped" name="Nomination dropped"/>
    <bpmn:subProcess id="expert_review" name="Expert review">
      <bpmn:startEvent id="er_start"/>
      <bpmn:userTask id="er_appoint" name="Appoint experts"/>
      <bpmn:userTask id="er_report" name="Expert report">
        <bpmn:multiInstanceLoopCharacteristics/>
      </bpmn:userTask>
      <bpmn:boundaryEvent id="er_reminder" attachedToRef="er_report" cancelActivity="false">
        <bpmn:timerEventDefinition><bpmn:timeCycle>R/P7D</bpmn:timeCycle></bpmn:timerEventDefinition>
      </bpmn:boundaryEvent>
      <bpmn:sendTask id="er_remind" name="Remind expert"/>
      <bpmn:endEvent id="er_reminded"/>
      <bpmn:userTask id="er_summary" name="Summarise"/>
      <bpmn:endEvent id="er_end"/>
      <bpmn:sequenceFlow id="er1" sourceRef="er_start" targetRef="er_appoint"/>
      <bpmn:sequenceFlow id="er2" sourceRef="er_appoint" targetRef="er_report"/>
      <bpmn:sequenceFlow id="er3" sourceRef="er_report" targetRef="er_summary"/>
      <bpmn:sequenceFlow id="er4" sourceRef="er_summary" targetRef="er_end"/>
      <bpmn:sequenceFlow id="er5" sourceRef="er_reminder" targetRef="er_remind"/>
      <bpmn:sequenceFlow id="er6" sourceRef="er_remind" targetRef="er_reminded"/>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="withdrawn" name="Withdrawn" attachedToRef="expert_review">
      <bpmn:messageEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="ended_withdrawn" name="Withdrawn"/>
    <bpmn:userTask id="referral" name="Referral to regions"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:receiveTask id="resp_north" name="Response north"/>
    <bpmn:receiveTask id="resp_south" name="Response south"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:userTask id="decide" name="Decide on NHV"/>
    <bpmn:exclusiveGateway id="decision" name="Concentrate?"/>
    <bpmn:userTask id="applications" name="Invite applications"/>
    <bpmn:eventBasedGateway id="wait_apps"/>
    <bpmn:intermediateCatchEvent id="apps_in" name="Applications in">
      <bpmn:messageEventDefinition/>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="apps_deadline" name="Deadline">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P8W</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="allocate" name="Allocate care"/>
    <bpmn:callActivity id="permit" name="Permit follow-up" calledElement="se_permit"/>
    <bpmn:endEvent id="allocated" name="Allocated"/>
    <bpmn:endEvent id="not_concentrated" name="Not concentrated"/>
    <bpmn:sequenceFlow id="f1" sourceRef="nominated" targetRef="register"/>
    <bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="complete"/>
    <bpmn:sequenceFlow id="ok" name="yes" sourceRef="complete" targetRef="expert_review"/>
    <bpmn:sequenceFlow id="f3" name="no" sourceRef="complete" targetRef="ask_complement"/>
    <bpmn:sequenceFlow id="f4" sourceRef="ask_complement" targetRef="get_complement"/>
    <bpmn:sequenceFlow id="f5" sourceRef="get_complement" targetRef="register"/>
    <bpmn:sequenceFlow id="f6" sourceRef="complement_late" targetRef="dropped"/>
    <bpmn:sequenceFlow id="f7" sourceRef="expert_review" targetRef="referral"/>
    <bpmn:sequenceFlow id="f8" sourceRef="withdrawn" targetRef="ended_withdrawn"/>
    <bpmn:sequenceFlow id="f9" sourceRef="referral" targetRef="fork"/>
    <bpmn:sequenceFlow id="f10" sourceRef="fork" targetRef="resp_north"/>
    <bpmn:sequenceFlow id="f11" sourceRef="fork" targetRef="resp_south"/>
    <bpmn:sequenceFlow id="f12" sourceRef="resp_north" targetRef="join"/>
    <bpmn:sequenceFlow id="f13" sourceRef="resp_south" targetRef="join"/>
    <bpmn:sequenceFlow id="f14" sourceRef="join" targetRef="decide"/>
    <bpmn:sequenceFlow id="f15" sourceRef="decide" targetRef="decision"/>
    <bpmn:sequenceFlow id="f16" name="yes" sourceRef="decision" targetRef="applications"/>
    <bpmn:sequenceFlow id="f17" name="no" sourceRef="decision" targetRef="not_concentrated"/>
    <bpmn:sequenceFlow id="f18" sourceRef="applications" targetRef="wait_apps"/>
    <bpmn:sequenceFlow id="f19" sourceRef="wait_apps" targetRef="apps_in"/>
    <bpmn:sequenceFlow id="f20" sourceRef="wait_apps" targetRef="apps_deadline"/>
    <bpmn:sequenceFlow id="f21" sourceRef="apps_in" targetRef="allocate"/>
    <bpmn:sequenceFlow id="f22" sourceRef="apps_deadline" targetRef="allocate"/>
    <bpmn:sequenceFlow id="f23" sourceRef="allocate" targetRef="permit"/>
    <bpmn:sequenceFlow id="f24" sourceRef="permit" targetRef="allocated"/>
""",
)

COLLABORATION = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_collaboration" targetNamespace="urn:niva:test">
  <bpmn:collaboration id="agencies">
    <bpmn:participant id="board_pool" name="Board" processRef="board"/>
    <bpmn:participant id="region_pool" name="Region" processRef="region"/>
    <bpmn:messageFlow id="mf_request" sourceRef="ask" targetRef="request_in"/>
    <bpmn:messageFlow id="mf_answer" sourceRef="answer" targetRef="answer_in"/>
  </bpmn:collaboration>
  <bpmn:process id="board" isExecutable="true">
    <bpmn:startEvent id="board_start"/>
    <bpmn:sendTask id="ask" name="Ask region"/>
    <bpmn:receiveTask id="answer_in" name="Receive answer"/>
    <bpmn:endEvent id="board_end"/>
    <bpmn:sequenceFlow id="b1" sourceRef="board_start" targetRef="ask"/>
    <bpmn:sequenceFlow id="b2" sourceRef="ask" targetRef="answer_in"/>
    <bpmn:sequenceFlow id="b3" sourceRef="answer_in" targetRef="board_end"/>
  </bpmn:process>
  <bpmn:process id="region" isExecutable="false">
    <bpmn:startEvent id="request_in"><bpmn:messageEventDefinition/></bpmn:startEvent>
    <bpmn:userTask id="consider" name="Consider"/>
    <bpmn:sendTask id="answer" name="Answer board"/>
    <bpmn:endEvent id="region_end"/>
    <bpmn:sequenceFlow id="r1" sourceRef="request_in" targetRef="consider"/>
    <bpmn:sequenceFlow id="r2" sourceRef="consider" targetRef="answer"/>
    <bpmn:sequenceFlow id="r3" sourceRef="answer" targetRef="region_end"/>
  </bpmn:process>
</bpmn:definitions>
"""

SAMPLES: dict[str, str] = {
    "gateways": GATEWAYS,
    "boundary_events": BOUNDARY_EVENTS,
    "subprocess": SUBPROCESS,
    "loops": LOOPS,
    "multi_instance": MULTI_INSTANCE,
    "referral": REFERRAL,
    "collaboration": COLLABORATION,
}
"""Every sample by name; each reads as BPMN 2.0 and has no BPMNDiagram."""
