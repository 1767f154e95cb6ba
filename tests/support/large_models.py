"""Generated models of any size, for limits and for how validation time grows."""

from __future__ import annotations

__all__ = ["linear_model"]


def linear_model(elements: int, *, process_id: str = "big") -> bytes:
    """Start, tasks and an end, chained by flows: ``elements`` flow elements in all when it
    is odd (nodes and flows alternate), one fewer when it is even."""
    tasks = (elements - 3) // 2
    parts = [
        '<?xml version="1.0"?><bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'
        f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:startEvent id="s"/>'
    ]
    previous = "s"
    for i in range(tasks):
        parts.append(
            f'<bpmn:sequenceFlow id="f{i}" sourceRef="{previous}" targetRef="t{i}"/>'
            f'<bpmn:task id="t{i}"/>'
        )
        previous = f"t{i}"
    parts.append(
        f'<bpmn:sequenceFlow id="fe" sourceRef="{previous}" targetRef="e"/>'
        '<bpmn:endEvent id="e"/></bpmn:process></bpmn:definitions>'
    )
    return "".join(parts).encode()
