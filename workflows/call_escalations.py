"""How a called case tells its caller of an escalation it did not catch (Camunda 8 passes
it to the call activity).

The child signals the workflow that started it (`StartInstanceInput.parent_workflow_id`);
the caller applies it between steps, like any request, and only while a call activity
still waits on that very child (`Interpreter.child_escalated`). A signal, not an update:
the child must not wait for its caller's decision (an escalation throw goes on at once),
and a caller that has ended answers the signal with a failure the child records
(`Interpreter.escalation_not_delivered`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["CHILD_ESCALATION_SIGNAL", "ChildEscalationInput"]

CHILD_ESCALATION_SIGNAL = "child_escalation"


class ChildEscalationInput(BaseModel):
    """An escalation a called case passes to its caller."""

    child_workflow_id: str = Field(description="The called case: its workflow id.")
    code: str = Field(description="The escalation code.")
    element_id: str = Field(description="What threw it in the called case.")
