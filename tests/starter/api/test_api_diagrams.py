"""The diagram routes on a real Temporal dev server: a case's state per element, a process
version's running cases per element, the pages and their assets, and who may read them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from starter.api.routes import diagrams
from tests.support.api import LIFE, Api
from tests.support.diagram_case import PROCESS_ID, REGIONS, referral_two_of_three


def _key() -> str:
    return f"dia-{uuid.uuid4().hex[:8]}"


async def _state(api: Api, instance_id: str, subject: str = "sos-officer") -> Any:
    response = await api.http.get(
        f"/instances/{instance_id}/diagram/state", headers=api.auth(subject)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_get_case_diagram_state_marks_active_progress_and_path(api: Api):
    instance_id = await referral_two_of_three(api, _key())

    state = await _state(api, instance_id)

    assert (state["process_id"], state["version"], state["status"]) == (PROCESS_ID, 1, "running")
    elements = state["elements"]
    referral = elements["Referral"]
    assert referral["active"] == 1
    assert referral["progress"] == {"completed": 2, "total": 3}
    assert referral["completed"] is False
    for passed in ("Start", "Intake", "Route"):
        assert elements[passed]["completed"] is True, passed
        assert elements[passed]["active"] == 0, passed
    for ahead in ("Decide", "Done", "Rejected", "Deadline"):
        assert ahead not in elements or not elements[ahead]["completed"], ahead
    assert set(state["flows_taken"]) == {"f1", "f2", "f3"}
    open_tasks = {t["task_id"]: t for t in state["tasks"]}
    assert set(open_tasks) == {f"Referral:{REGIONS[2]}"}
    assert open_tasks[f"Referral:{REGIONS[2]}"]["due_text"] == "2099-05-18"


async def test_get_case_diagram_state_shows_incident_with_error(api: Api):
    await api.deploy(LIFE)
    instance_id = await api.start("api_life", _key(), {"region": "SE-AB"})
    done = await api.complete(instance_id, "Review", {"verdict": "yes"}, "sos-officer")
    assert done.status_code == 200, done.text

    state = await _state(api, instance_id)

    check = state["elements"]["Check"]
    assert check["incidents"], state
    assert "amount" in check["incidents"][0]["message"]
    assert state["elements"]["Review"]["completed"] is True
    assert "f2" in state["flows_taken"]


async def test_get_case_diagram_state_ended_case_marks_end_event(api: Api):
    await api.deploy(LIFE)
    instance_id = await api.start("api_life", _key(), {"region": "SE-AB", "amount": 500})
    done = await api.complete(instance_id, "Review", {"verdict": "yes"}, "sos-officer")
    assert done.status_code == 200, done.text

    state = await _state(api, instance_id)

    assert state["status"] == "completed"
    assert state["outcome"] == "Stor"
    assert state["elements"]["Big"]["completed"] is True
    assert "Done" not in state["elements"]
    assert {"f1", "f2", "f3"} <= set(state["flows_taken"])
    assert "f4" not in state["flows_taken"]


async def test_get_case_diagram_state_not_readable_answers_404(api: Api):
    instance_id = await referral_two_of_three(api, _key())

    outsider = await api.http.get(
        f"/instances/{instance_id}/diagram/state", headers=api.auth("registrator-o")
    )
    missing = await api.http.get(
        f"/instances/{PROCESS_ID}:no-such-case/diagram/state", headers=api.auth("sos-officer")
    )
    anonymous = await api.http.get(f"/instances/{instance_id}/diagram/state")

    assert outsider.status_code == 404
    assert outsider.json()["detail"] == missing.json()["detail"].replace(
        f"{PROCESS_ID}:no-such-case", instance_id
    )
    assert missing.status_code == 404
    assert anonymous.status_code == 401
    # A region still asked reads the case: it is a candidate of an open task.
    region = await api.http.get(
        f"/instances/{instance_id}/diagram/state", headers=api.auth("registrator-d")
    )
    assert region.status_code == 200


async def test_get_process_diagram_state_counts_cases_per_element(api: Api):
    first = await referral_two_of_three(api, _key())
    second = await api.start(PROCESS_ID, _key(), {"regions": REGIONS, "deadline": "2099-05-18"})
    await api.deploy(LIFE)
    broken = await api.start("api_life", _key(), {"region": "SE-AB"})
    done = await api.complete(broken, "Review", {"verdict": "yes"}, "sos-officer")
    assert done.status_code == 200, done.text
    url = f"/process-models/{PROCESS_ID}/versions/1/diagram/state"

    state: Any = None
    for _ in range(100):  # visibility lags the cases by about a second
        response = await api.http.get(url, headers=api.auth("operator"))
        assert response.status_code == 200, response.text
        state = response.json()
        if state["running"] == 2 and "Intake" in state["elements"]:
            break
        await asyncio.sleep(0.1)
    life: Any = None
    for _ in range(100):
        response = await api.http.get(
            "/process-models/api_life/versions/1/diagram/state", headers=api.auth("auditor")
        )
        life = response.json()
        if life["with_incident"] == 1:
            break
        await asyncio.sleep(0.1)

    assert first != second
    assert state["running"] == 2
    assert state["elements"]["Referral"] == {"waiting": 1, "incidents": 0}
    assert state["elements"]["Intake"] == {"waiting": 1, "incidents": 0}
    assert state["partial"] is False
    assert life["with_incident"] == 1
    assert life["elements"]["Check"]["incidents"] == 1


async def test_get_process_diagram_state_forbidden_and_unknown(api: Api):
    await api.deploy(LIFE)
    region = await api.http.get(
        "/process-models/api_life/versions/1/diagram/state", headers=api.auth("registrator-ab")
    )
    unknown = await api.http.get(
        "/process-models/api_life/versions/9/diagram/state", headers=api.auth("modeler")
    )

    assert region.status_code == 403
    assert "modeler" in region.json()["detail"]
    assert unknown.status_code == 404


async def test_get_diagram_pages_and_assets(api: Api):
    page = await api.http.get("/instances/api_life:x/diagram")
    process_page = await api.http.get("/process-models/api_life/versions/2/diagram")
    script = await api.http.get("/diagram/assets/diagram.js")
    unknown = await api.http.get("/diagram/assets/secrets.txt")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-state-url="/instances/api_life:x/diagram/state"' in page.text
    assert 'data-bpmn-js="yes"' in page.text or not diagrams.BPMN_JS_DIST.is_dir()
    assert 'data-bpmn-url="/process-models/api_life/bpmn?version=2"' in process_page.text
    assert script.status_code == 200
    assert "sessionStorage" in script.text
    assert unknown.status_code == 404


async def test_get_diagram_page_without_bpmn_js_says_so(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    # As on a machine where `npm ci` never ran: the bundle is not where npm puts it.
    missing = (tmp_path / "node_modules" / "bpmn-viewer.js", "text/javascript")
    monkeypatch.setitem(diagrams._ASSETS, "bpmn-viewer.js", missing)

    page = await api.http.get("/instances/api_life:x/diagram")
    bundle = await api.http.get("/diagram/assets/bpmn-viewer.js")
    script = await api.http.get("/diagram/assets/diagram.js")

    assert page.status_code == 200
    assert 'data-bpmn-js=""' in page.text
    assert "bpmn-js is not installed on the server" in script.text
    assert bundle.status_code == 404
    assert "npm ci" in bundle.json()["detail"]
