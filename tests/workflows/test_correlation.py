"""Correlation keys in the case: evaluated when a subscription opens, matched exactly by a
message published with a key, and listed (as digests, within 2 KB) in
``NivaMessageSubscriptions``; cases recorded before keys keep their commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from process_models.bpmn import read_bpmn
from process_models.bpmn.writer import write_bpmn
from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from tests.support.correlation import ORDER, RECEIPT
from tests.workflows.harness import registry_with_test_types
from workflows import search_attributes as sa
from workflows.interpreter import CORRELATION_KEYS_PATCH, Interpreter
from workflows.model import load_model
from workflows.state import InstanceState, Subscription
from workflows.visibility import MAX_LIST_BYTES, AttributeValue, search_attribute_updates

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


CAMUNDA8_ORDER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Defs"
    targetNamespace="http://bpmn.io/schema/bpmn" modeler:executionPlatform="Camunda Cloud">
  <bpmn:message id="Msg_paid" name="paid">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=upper case(orderId)" />
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="c8_order" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Paid" />
    <bpmn:receiveTask id="Paid" messageRef="Msg_paid" />
    <bpmn:sequenceFlow id="f2" sourceRef="Paid" targetRef="End" />
    <bpmn:endEvent id="End" />
  </bpmn:process>
</bpmn:definitions>
"""
"""A Camunda 8 receive task whose key is FEEL (``upper case`` is no CEL)."""


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="order.bpmn", content=ORDER.encode())])
    store.deploy([ModelFile(name="receipt.bpmn", content=RECEIPT.encode())])
    return store


def started(store: ModelStore, process_id: str, variables: dict[str, Any]) -> Interpreter:
    state = InstanceState(
        process_id=process_id, version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source(process_id)), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def published(interpreter: Interpreter, before: dict[str, AttributeValue]) -> dict[str, Any]:
    """The attributes an upsert would set now (None: unset), by name."""
    return {
        update.key.name: getattr(update, "value", None)
        for update in search_attribute_updates(interpreter, before)
    }


def test_niva_subscription_correlation_key_is_read_and_written_back():
    definitions = read_bpmn(ORDER.encode())
    node = next(n for n in definitions.processes[0].nodes if n.id == "Payment")
    assert node.niva.subscription is not None
    assert node.niva.subscription.correlation_key == "=order_id"
    written = write_bpmn(definitions)
    assert b'correlationKey="=order_id"' in written
    again = next(n for n in read_bpmn(written).processes[0].nodes if n.id == "Payment")
    assert again.niva.subscription is not None
    assert again.niva.subscription.correlation_key == "=order_id"


def test_a_subscription_keeps_its_key_as_evaluated_when_it_opens(store: ModelStore):
    order = started(store, "corr_order", {"order_id": "A-1", "region": "SE-AB"})
    (subscription,) = order.state.subscriptions.values()
    assert (subscription.message_name, subscription.correlation_key) == ("payment", "A-1")
    assert subscription.candidate_orgs == ["SE-AB"]

    for number, key in ((42, "42"), (7.0, "7"), (2.5, "2.5")):
        receipt = started(store, "corr_receipt", {"order_no": number})
        assert [s.correlation_key for s in receipt.state.subscriptions.values()] == [key]


@pytest.mark.parametrize("value", [None, True, ["A-1"], {"id": 1}, ""])
def test_a_key_that_is_neither_text_nor_a_number_is_an_incident(store: ModelStore, value: Any):
    receipt = started(store, "corr_receipt", {"order_no": value})
    assert receipt.state.subscriptions == {}
    (incident,) = receipt.state.incidents.values()
    assert (incident.element_id, incident.kind) == ("Receive", "expression")
    assert "correlation key must be a non-empty string or a number, not " in incident.message
    assert "A-1" not in incident.message  # the kind of value, never the value


def test_a_message_with_a_key_reaches_only_the_subscription_holding_it(store: ModelStore):
    order = started(store, "corr_order", {"order_id": "A-1", "region": "SE-AB"})

    assert order.waiting_subscriptions("payment", "A-2") == []
    assert order.message_candidates("payment", "A-2") == []  # nobody may send it
    assert order.message_candidates("payment", "A-1") == [([], ["SE-AB"])]
    assert (
        order.correlate(
            "payment", {"paid": 1}, actor="x", org="SE-AB", now=NOW, correlation_key="A-2"
        )
        == []
    )
    assert order.state.buffered == []  # published by key: the case never keeps it
    assert len(order.state.subscriptions) == 1

    received = order.correlate(
        "payment", {"paid": 100}, actor="x", org="SE-AB", now=NOW, correlation_key="A-1"
    )
    order.run(NOW)
    assert received == ["Payment"]
    assert (order.state.ended, order.state.outcome) == (True, "Betald")
    assert order.state.variables["paid"] == 100


def test_a_message_sent_to_the_case_still_reaches_a_keyed_subscription(store: ModelStore):
    order = started(store, "corr_order", {"order_id": "A-1", "region": "SE-AB"})
    assert order.correlate("payment", {}, actor="x", org="SE-AB", now=NOW) == ["Payment"]


def test_keyed_subscriptions_are_listed_as_digests_and_unlisted_when_they_close(
    store: ModelStore,
):
    order = started(store, "corr_order", {"order_id": "19121212-1212", "region": "SE-AB"})
    before: dict[str, AttributeValue] = {}
    entry = sa.subscription_entry("payment", "19121212-1212")
    assert published(order, before)[sa.MESSAGE_SUBSCRIPTIONS.name] == entry
    assert "19121212" not in entry  # the key itself never reaches visibility
    assert published(order, before) == {}  # unchanged: no upsert

    order.correlate("payment", {}, actor="x", org="SE-AB", now=NOW, correlation_key="19121212-1212")
    order.run(NOW)
    assert published(order, before)[sa.MESSAGE_SUBSCRIPTIONS.name] is None


def test_a_case_without_keys_never_upserts_the_attribute(tmp_path: Path):
    from tests.support.api import LIFE

    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="life.bpmn", content=LIFE.encode())])
    life = started(store, "api_life", {"region": "SE-AB"})
    assert sa.MESSAGE_SUBSCRIPTIONS.name not in published(life, {})


def test_cases_recorded_before_keys_neither_evaluate_nor_list_them(store: ModelStore):
    state = InstanceState(
        process_id="corr_order",
        version=1,
        business_key="k",
        title="Case",
        variables={"order_id": "A-1", "region": "SE-AB"},
    )
    order = Interpreter(load_model(store.source("corr_order")), state)
    asked: list[str] = []
    order.patched = lambda patch: asked.append(patch) or False  # type: ignore[func-returns-value]
    order.start(NOW, start_event=None, actor=None)
    order.run(NOW)
    assert [s.correlation_key for s in state.subscriptions.values()] == [None]
    assert CORRELATION_KEYS_PATCH in asked
    assert sa.MESSAGE_SUBSCRIPTIONS.name not in published(order, {})


def test_the_list_stays_within_two_kilobytes_whatever_the_case_holds(store: ModelStore):
    order = started(store, "corr_order", {"order_id": "A-1", "region": "SE-AB"})
    for i in range(200):
        order.state.subscriptions[f"~s{1000 + i}"] = Subscription(
            id=f"~s{1000 + i}",
            element_id="Payment",
            message_name="payment" * 20,
            owner="~t1",
            correlation_key=f"order-{i}" * 10,
        )
    value = published(order, {})[sa.MESSAGE_SUBSCRIPTIONS.name]
    words = value.split(" ")
    assert words[-1] == sa.SUBSCRIPTIONS_TRUNCATED
    assert len(value.encode()) <= MAX_LIST_BYTES
    assert words[0] == sa.subscription_entry("payment", "A-1")
    assert len(words) > 50


def test_a_camunda8_key_is_feel(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="c8.bpmn", content=CAMUNDA8_ORDER.encode())])
    order = started(store, "c8_order", {"orderId": "ab-12"})
    assert [s.correlation_key for s in order.state.subscriptions.values()] == ["AB-12"]
    assert order.correlate("paid", {}, actor="x", org=None, now=NOW, correlation_key="AB-12") == [
        "Paid"
    ]
