"""The instance state's checkpoint: what a failed step is rolled back to."""

from __future__ import annotations

from datetime import UTC, datetime

from workflows.state import AuditEntry, CompletedTask, InstanceState, Token

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def state() -> InstanceState:
    return InstanceState(
        process_id="p",
        version=1,
        business_key="k",
        title="T",
        variables={"regions": [{"id": "SE-AB", "answer": None}]},
        tokens={"~t1": Token(id="~t1", node_id="Review", scope_id="~root")},
        completed_tasks={
            "Register": CompletedTask(task_id="Register", completed=NOW, actor="officer")
        },
        participants=["SE-SOS"],
        audit=[AuditEntry(at=NOW, kind="started", model_version=1)],
    )


def test_checkpoint_is_unchanged_by_whatever_the_step_does_after_it():
    current = state()
    saved = current.checkpoint()
    expected = saved.model_dump()

    current.variables["regions"][0]["answer"] = "yes"
    current.tokens["~t1"].status = "incident"
    current.tokens["~t2"] = Token(id="~t2", node_id="Decide", scope_id="~root")
    current.audit.append(AuditEntry(at=NOW, kind="task_completed", model_version=1))
    current.completed_tasks["Review"] = CompletedTask(task_id="Review", completed=NOW, actor="x")
    current.participants.append("SE-AB")
    current.visits["Review"] = 2
    current.next_id("t")

    assert saved.model_dump() == expected
    assert current.model_dump() != expected


def test_checkpoint_leaves_the_state_it_copies_whole():
    current = state()
    before = current.model_dump()
    saved = current.checkpoint()
    assert current.model_dump() == before
    assert saved.model_dump() == before
    # Entries are shared (they never change once added); the containers are not.
    assert saved.audit[0] is current.audit[0]
    assert saved.audit is not current.audit
    assert saved.tokens["~t1"] is not current.tokens["~t1"]
