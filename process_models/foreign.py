"""Other engines' execution settings on an executable process: problems or warnings.

Camunda 7 (``camunda:``), Activiti, Flowable and SpiffWorkflow write their execution
settings as attributes and extension elements in their own namespaces. niva reads none of
them, so one that decides who may act or what runs (an assignee, candidates, a form, a
Java class or expression, a script, a listener, input/output mappings) would be dropped
without a word: a model that restricts who may do a task must never run with that
restriction gone. Such a setting is a problem naming the setting and the element. The
harmless ones (`HARMLESS`: async flags, history time to live, version tags, priorities,
the modeler's own bookkeeping) are warnings. In a Camunda 8 file every ``camunda:``
setting is a warning: Zeebe ignores them too, and the file's execution settings are its
zeebe elements.

Unknown settings of these vendors count as deciding: refusing one that was harmless costs
a modeller one edit, running without one that was not can give a case to the wrong person.
"""

from __future__ import annotations

from collections.abc import Iterator

from process_models.bpmn.namespaces import local_name, namespace_of
from process_models.errors import Problem
from process_models.schema import BaseElement, Definitions, Process

__all__ = ["CAMUNDA7", "FOREIGN_VENDORS", "HARMLESS", "foreign_settings"]

CAMUNDA7 = "http://camunda.org/schema/1.0/bpmn"

#: The namespaces of other engines' execution settings, and the prefix messages name them by.
FOREIGN_VENDORS: dict[str, str] = {
    CAMUNDA7: "camunda",
    "http://activiti.org/bpmn": "activiti",
    "http://flowable.org/bpmn": "flowable",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "spiffworkflow",
}

#: Settings (attribute or extension element, by local name) that change neither who may act
#: nor what runs: ignoring them is a warning.
HARMLESS: frozenset[str] = frozenset(
    {
        # transaction boundaries and job execution of the other engine
        "async",
        "asyncBefore",
        "asyncAfter",
        "asyncLeave",
        "exclusive",
        "failedJobRetryTimeCycle",
        "jobPriority",
        "taskPriority",
        "priority",
        "parallelInSameTransaction",
        # history and versioning
        "historyTimeToLive",
        "versionTag",
        "category",
        # the modeler's and the tasklist's bookkeeping
        "isStartableInTasklist",
        "modelerTemplate",
        "modelerTemplateVersion",
        "modelerTemplateIcon",
        "diagramRelationId",
        "sourceDockerX",
        "sourceDockerY",
        "targetDockerX",
        "targetDockerY",
        "rotation",
        "formFieldValidation",
        "work-form-field-validation",
        "properties",
        "instructionsForEndUser",
        "unitTests",
    }
)

_HINTS: dict[str, str] = {
    **dict.fromkeys(
        ("assignee", "candidateUsers", "candidateGroups", "task-candidates-type"),
        "say who may do the task with niva:assignment (zeebe:assignmentDefinition in a "
        "Camunda 8 file)",
    ),
    **dict.fromkeys(
        ("candidateStarterUsers", "candidateStarterGroups"),
        "say who may start a case with niva:starters",
    ),
    "initiator": "niva keeps who started a case in its trail, not in a variable the "
    "process reads; remove it and the expressions that read it",
    **dict.fromkeys(
        ("formKey", "formRef", "formRefBinding", "formRefVersion", "formData", "formProperty"),
        "name the form with niva:form (zeebe:formDefinition in a Camunda 8 file)",
    ),
    **dict.fromkeys(
        (
            "class",
            "expression",
            "delegateExpression",
            "type",
            "topic",
            "resultVariable",
            "connector",
            "field",
            "decisionRef",
            "serviceTaskOperator",
        ),
        "name what runs with niva:taskDefinition (zeebe:taskDefinition in a Camunda 8 file)",
    ),
    **dict.fromkeys(
        ("inputOutput", "in", "out"),
        "map variables with niva:input / niva:output (zeebe:ioMapping in a Camunda 8 file)",
    ),
    **dict.fromkeys(
        ("executionListener", "taskListener"),
        "model the listener's work as tasks of the process",
    ),
    **dict.fromkeys(
        ("script", "preScript", "postScript"),
        "model the script's work as a task of the process",
    ),
    **dict.fromkeys(
        ("collection", "elementVariable"),
        "use niva:loop (zeebe:loopCharacteristics in a Camunda 8 file)",
    ),
}


def foreign_settings(defs: Definitions, process: Process) -> tuple[list[Problem], list[Problem]]:
    """The problems and the warnings of other engines' settings in ``process``.

    Each names the setting as ``vendor:name``, the element kind and id, and (for a problem)
    what niva reads instead.
    """
    camunda8 = defs.dialect == "camunda8"
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for element_id, kind, element in _holders(process):
        for name, line in _settings(element):
            namespace, local = namespace_of(name), local_name(name)
            vendor = FOREIGN_VENDORS[namespace or ""]
            setting = f"{vendor}:{local}"
            if camunda8 and namespace == CAMUNDA7:
                message = (
                    f"foreign setting {setting} on {kind} {element_id!r} is ignored: a Camunda 8 "
                    "file's settings are its zeebe elements (Zeebe ignores it too)"
                )
                warnings.append(Problem(message=message, element_id=element_id, line=line))
            elif local in HARMLESS:
                message = (
                    f"foreign setting {setting} on {kind} {element_id!r} is ignored: niva does "
                    "not read it, and it decides neither who may act nor what runs"
                )
                warnings.append(Problem(message=message, element_id=element_id, line=line))
            else:
                hint = _HINTS.get(local, "use niva's own settings or remove it")
                message = (
                    f"foreign setting {setting} on {kind} {element_id!r} decides who may act or "
                    f"what runs, and niva does not read it; {hint}"
                )
                problems.append(Problem(message=message, element_id=element_id, line=line))
    return problems, warnings


def _settings(element: BaseElement) -> Iterator[tuple[str, int | None]]:
    """Each foreign attribute and extension element of ``element``, with its line."""
    for attribute in element.attributes:
        if namespace_of(attribute) in FOREIGN_VENDORS:
            yield attribute, element.line
    for raw in element.foreign_extensions:
        if raw.namespace in FOREIGN_VENDORS:
            yield raw.tag, raw.line or element.line


def _holders(process: Process) -> Iterator[tuple[str | None, str, BaseElement]]:
    """Each element of ``process`` that may carry settings: the id to report it by, its
    kind, and the element (an event definition or a loop reported with its node)."""
    yield process.id or None, "process", process
    for node in process.all_nodes():
        yield node.id or None, node.kind, node
        for definition in node.event_definitions:
            yield node.id or None, f"{definition.kind}EventDefinition", definition
        if node.loop is not None:
            yield node.id or None, "multiInstanceLoopCharacteristics", node.loop
    for flow in process.all_flows():
        yield flow.id or None, "sequenceFlow", flow
