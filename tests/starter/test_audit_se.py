"""The decision trail of a whole recorded Swedish designation case, built offline from its
history: every decision in order, with the right actors, documents and model version."""

from __future__ import annotations

from pathlib import Path

from starter.audit import build_trail, read_histories, trail_markdown

HISTORY = Path(__file__).resolve().parents[1] / "histories" / "se_nhv_designation_full.json"
REFERRAL_REGIONS = [
    "SE-AB", "SE-C", "SE-D", "SE-E", "SE-F", "SE-G", "SE-H", "SE-I", "SE-K", "SE-M", "SE-N",
    "SE-O", "SE-S", "SE-T", "SE-U",
]  # fmt: skip


def test_swedish_case_trail_lists_every_decision_in_order_with_its_actor():
    trail = build_trail(read_histories(HISTORY))
    decisions = [d for d in trail.decisions if d.kind in ("started", "task_completed", "message")]
    steps = [(d.kind, d.task_id or d.element_id, d.org) for d in decisions]
    expected = [
        ("started", "Nominated", "SE-NPO-MAGTARM"),
        ("task_completed", "Prioritise", "SE-SOS"),
        ("task_completed", "AppointExpertGroup", "SE-SOS"),
        ("task_completed", "ExpertReport", "SE-SOS"),
        *[("task_completed", f"ReferralResponse:{r}", r) for r in REFERRAL_REGIONS],
        ("message", "ReferralExtended", "SE-SOS"),
        ("task_completed", "B1Analysis", "SE-NHV-B1"),
        ("task_completed", "Decide", "SE-SOS"),
    ]
    assert steps == expected
    times = [d.at for d in decisions]
    assert times == sorted(times)
    # Each region answered its own referral task, and said so in its payload.
    for decision in decisions:
        if decision.task_id and decision.task_id.startswith("ReferralResponse:"):
            assert decision.actor == f"registrator@{decision.org}"
            assert decision.payload is not None
    # Documents carry their hashes; every decision names the model version it ran on.
    documents = [d for d in trail.decisions if d.kind == "document"]
    assert [d.element_id for d in documents] == ["RenderReferralPackage", "RenderDecision"]
    assert all(len(doc.sha256) == 64 for d in documents for doc in d.documents)
    [model] = trail.models
    assert (model.process_id, model.version) == ("se_nhv_designation", 1)
    assert {d.content_hash for d in trail.decisions if d.content_hash} == {model.content_hash}
    markdown = trail_markdown(trail)
    assert "registrator@SE-AB" in markdown
    assert "ledamot@b1" in markdown
