"""Keyword-list search attributes stay within Temporal's 2 KB per value
(`workflows.visibility.bounded_list`); lists that fit are published as they always were."""

from __future__ import annotations

import json

from workflows.visibility import MAX_LIST_BYTES, TRUNCATED, bounded_list


def _size(values: list[str]) -> int:
    return len(json.dumps(values, ensure_ascii=False).encode())


def test_a_list_that_fits_is_unchanged_but_for_repeats():
    assert bounded_list(["Decision", "ReferralResponse:SE-AB", "Decision"]) == [
        "Decision",
        "ReferralResponse:SE-AB",
    ]
    assert bounded_list([]) == []


def test_a_list_that_does_not_fit_keeps_the_summary_then_what_fits_then_the_marker():
    ids = [f"ReferralResponse:SE-REGION-{i:03}" for i in range(150)]
    bounded = bounded_list([*ids, "Decision"], coarse=["ReferralResponse"] * 150 + ["Decision"])
    assert bounded[:2] == ["ReferralResponse", "Decision"]
    assert bounded[2] == ids[0]
    assert bounded[-1] == TRUNCATED
    assert _size(bounded) <= MAX_LIST_BYTES
    assert len(bounded) > 40  # as many full ids as fit, not only the summary


def test_the_bound_counts_bytes_not_characters():
    names = [f"Organisation-Ö{i:04}-ÅÄÖ" for i in range(200)]
    bounded = bounded_list(names)
    assert bounded[-1] == TRUNCATED
    assert _size(bounded) <= MAX_LIST_BYTES
    assert _size([*bounded[:-1], names[len(bounded) - 1], TRUNCATED]) > MAX_LIST_BYTES
