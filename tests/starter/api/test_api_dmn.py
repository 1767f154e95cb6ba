"""DMN decisions through the API: a model and its .dmn file in one multipart deployment."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.dmn import FEES, c8_fee_model, changed_fees

Files = list[tuple[str, tuple[str, bytes]]]


def files(*named: tuple[str, bytes]) -> Files:
    return [("files", item) for item in named]


async def deploy(api: Api, upload: Files) -> Any:
    return await api.http.post("/process-models", files=upload, headers=api.auth("modeler"))


async def test_deploy_model_with_its_decisions_in_one_multipart_deployment(api: Api):
    model = c8_fee_model().encode()
    created = await deploy(api, files(("c8_fee.bpmn", model), ("fees.dmn", FEES)))
    assert created.status_code == 201, created.text
    [process] = created.json()
    assert process["decisions"] == {"permit_fee": 1, "fee_text": 1}
    again = await deploy(api, files(("c8_fee.bpmn", model), ("fees.dmn", FEES)))
    assert again.status_code == 200
    # A new version of the decisions alone is a deployment too.
    decisions_only = await deploy(api, files(("fees.dmn", changed_fees())))
    assert (decisions_only.status_code, decisions_only.json()) == (201, [])
    assert api.store.decision_versions("permit_fee")[-1].version == 2


async def test_a_bad_decision_table_is_refused_with_its_rule_and_column(api: Api):
    broken = FEES.replace(b"<text>2200</text>", b"<text>2200 +</text>")
    refused = await deploy(api, files(("c8_fee.bpmn", c8_fee_model().encode()), ("f.dmn", broken)))
    assert refused.status_code == 422
    [problem] = [p for p in refused.json()["problems"] if p["file"] == "f.dmn"]
    assert problem["element_id"] == "permit_fee"
    assert "rule 4 (Rule_alcohol), output column 1 ('Fee (SEK)')" in problem["message"]
    assert api.store.process_ids() == []
