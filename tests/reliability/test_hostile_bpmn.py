"""Hostile BPMN, generated: random bytes, random graphs of BPMN elements with random
attribute values and random expressions. `read_bpmn` and `validate` never crash: each
input is a model (with or without problems) or a `ModelError` saying what is wrong.

Entity expansion, external entities and DTDs, 50 MB files, deep nesting
(tests/process_models/test_bpmn_hostile.py) and expressions with unknown functions, too
long or too deeply nested comprehensions (tests/process_models/test_expressions.py) are
tested there, one case each; this file throws volume at the same doors.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from process_models.bpmn import read_bpmn
from process_models.errors import ModelError
from process_models.expressions import compile_expression
from process_models.registry import default_registry
from process_models.validation import validate
from tests.reliability.figures import record_figures

NODE_KINDS = (
    "startEvent",
    "endEvent",
    "userTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "manualTask",
    "task",
    "exclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "subProcess",
    "callActivity",
    "scriptTask",  # outside the executable subset
    "complexGateway",
)
EVENT_DEFINITIONS = (
    "",
    "<bpmn:timerEventDefinition><bpmn:timeDuration>{text}</bpmn:timeDuration></bpmn:timerEventDefinition>",
    "<bpmn:timerEventDefinition><bpmn:timeCycle>{text}</bpmn:timeCycle></bpmn:timerEventDefinition>",
    "<bpmn:timerEventDefinition><bpmn:timeDate>{text}</bpmn:timeDate></bpmn:timerEventDefinition>",
    '<bpmn:messageEventDefinition messageRef="{ref}"/>',
    '<bpmn:errorEventDefinition errorRef="{ref}"/>',
    "<bpmn:terminateEventDefinition/>",
)
EXTENSIONS = (
    "<niva:taskDefinition type={text} retries={text} timeout={text}/>",
    "<niva:input target={text} source={text}/>",
    "<niva:output target={text} source={text}/>",
    "<niva:assignment candidateGroups={text} candidateOrgs={text}/>",
    "<niva:form key={text}/>",
    "<niva:constraint expression={text} message={text}/>",
    "<niva:calledElement processId={text} detached={text}/>",
    "<niva:subscription messageName={text} ttl={text}/>",
    "<niva:loop inputCollection={text} inputElement={text} outputCollection={text}/>",
    "<niva:timezone value={text}/>",
    "<niva:versionTag value={text}/>",
)

# Values worth trying: expressions (valid, broken, hostile), ISO forms, ids, junk.
TRICKY = st.sampled_from(
    [
        "=",
        "=1 +",
        "=x.y.z",
        "=size(vars)",
        "=unknown_fn(1)",
        "=[1,2,3].map(x, [1,2,3].map(y, [1,2,3].map(z, x)))",
        "=" + "(" * 400 + "1" + ")" * 400,
        "=" + " + ".join(["1"] * 2000),
        "='a' * 10",
        "=9223372036854775807 + 1",
        "=timestamp('not a time')",
        "=duration('P1000000Y')",
        "P10W",
        "R/P1D",
        "R-1/P1D",
        "PT0S",
        "2027-02-30",
        "Europe/Nowhere",
        "${x}",
        "#{x}",
        "true",
        "-1",
        "99999999999999999999",
        "",
        " ",
        "\u202e\u0000",
    ]
)
TEXT = st.one_of(TRICKY, st.text(max_size=40))


def _attr(value: str) -> str:
    # Characters XML 1.0 cannot carry at all are dropped: the point is hostile *values*.
    cleaned = "".join(c for c in value if c in "\t\n\r" or ord(c) >= 0x20)
    cleaned = "".join(
        c for c in cleaned if not 0xD800 <= ord(c) <= 0xDFFF and c not in "\ufffe\uffff"
    )
    return quoteattr(cleaned)


@st.composite
def hostile_models(draw: st.DrawFn) -> bytes:
    """A BPMN document: a random graph of random elements with random attributes."""
    count = draw(st.integers(min_value=0, max_value=12))
    ids = [f"n{i}" for i in range(count)] + ["", "missing", "n0"]
    nodes = []
    for index in range(count):
        kind = draw(st.sampled_from(NODE_KINDS))
        ext = "".join(
            template.format(text=_attr(draw(TEXT)))
            for template in draw(st.lists(st.sampled_from(EXTENSIONS), max_size=3))
        )
        definition = draw(st.sampled_from(EVENT_DEFINITIONS)).format(
            text=escape(_attr(draw(TEXT))[1:-1]), ref=draw(st.sampled_from([*ids, "E1", "M1"]))
        )
        extra = ""
        if kind == "boundaryEvent":
            extra = f" attachedToRef={_attr(draw(st.sampled_from(ids)))}"
        if draw(st.booleans()):
            extra += f" default={_attr(draw(st.sampled_from(ids)))}"
        loop = ""
        if draw(st.integers(0, 5)) == 0:
            loop = (
                "<bpmn:multiInstanceLoopCharacteristics isSequential="
                f"{_attr(draw(TEXT))}><bpmn:loopCardinality>{escape(draw(TRICKY))}"
                "</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"
            )
        nodes.append(
            f'<bpmn:{kind} id="n{index}" name={_attr(draw(TEXT))}{extra}>'
            f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>{loop}{definition}"
            f"</bpmn:{kind}>"
        )
    for index in range(draw(st.integers(min_value=0, max_value=15))):
        source, target = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
        condition = ""
        if draw(st.booleans()):
            condition = (
                f"<bpmn:conditionExpression>{escape(draw(TRICKY))}</bpmn:conditionExpression>"
            )
        nodes.append(
            f'<bpmn:sequenceFlow id="f{index}" sourceRef={_attr(source)} '
            f"targetRef={_attr(target)}>{condition}</bpmn:sequenceFlow>"
        )
    executable = draw(st.sampled_from(["true", "false", "yes", ""]))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:niva="urn:niva:bpmn:1" id="d" targetNamespace="urn:x">'
        '<bpmn:message id="M1" name="m"/><bpmn:error id="E1" errorCode="e"/>'
        f"<bpmn:process id={_attr(draw(st.sampled_from(['p', '', '1x', 'se_p'])))} "
        f'isExecutable="{executable}">{"".join(nodes)}</bpmn:process>'
        "</bpmn:definitions>"
    ).encode()


EXAMPLES = {"inputs": 0, "errors": 0}


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    if EXAMPLES["inputs"]:
        record_figures(
            "bounded",
            "hostile BPMN and expressions",
            faults=EXAMPLES["inputs"],
            requests=EXAMPLES["inputs"],
            cases=0,
            losses=0,  # a crash fails the test before this row is written
            notes=f"{EXAMPLES['errors']} refused with a ModelError, the rest read",
        )


def _read_and_validate(data: bytes) -> None:
    EXAMPLES["inputs"] += 1
    error: ModelError | None = None
    try:
        definitions = read_bpmn(data)
        validate(definitions, registry=default_registry)
    except ModelError as err:
        error = err
    EXAMPLES["errors"] += error is not None
    assert error is None or str(error)  # an error says what is wrong


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_models())
def test_hostile_generated_models_give_a_model_or_a_model_error(data: bytes) -> None:
    _read_and_validate(data)


@settings(max_examples=150, deadline=5000)
@given(st.binary(max_size=2000))
def test_hostile_random_bytes_give_a_model_error(data: bytes) -> None:
    _read_and_validate(data)


@settings(max_examples=100, deadline=5000)
@given(hostile_models(), st.data())
def test_hostile_mutated_models_give_a_model_or_a_model_error(
    data: bytes, draw: st.DataObject
) -> None:
    """A valid-looking document with bytes flipped, cut or inserted anywhere."""
    position = draw.draw(st.integers(min_value=0, max_value=len(data)))
    junk = draw.draw(st.binary(min_size=0, max_size=8))
    cut = draw.draw(st.integers(min_value=0, max_value=8))
    _read_and_validate(data[:position] + junk + data[position + cut :])


@settings(max_examples=200, deadline=5000)
@given(TEXT)
def test_hostile_expressions_compile_or_raise_model_error(source: str) -> None:
    EXAMPLES["inputs"] += 1
    error: ModelError | None = None
    try:
        compile_expression(source if source.startswith("=") else "=" + source, element_id="X")
    except ModelError as err:
        error = err
    EXAMPLES["errors"] += error is not None
    assert error is None or "X" in str(error)  # the error names the element
