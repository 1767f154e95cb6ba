"""The whole life of a small model through the HTTP API, on a real server and worker."""

from __future__ import annotations

from tests.support.api import LIFE, ONE_TASK, Api
from tests.support.net import until
from tests.workflows.harness import bpmn


async def test_deploy_start_list_show_complete_message_retry_cancel(api: Api):
    deployed = await api.deploy(LIFE)
    assert deployed == [
        {
            "id": "api_life",
            "version": 1,
            "created": True,
            "name": "API life",
            "forms": {},
            "decisions": {},
            "warnings": [],
        }
    ]

    # Deploying the same content again keeps the version (200, not 201).
    again = await api.http.post(
        "/process-models",
        content=LIFE.encode(),
        headers={**api.auth("modeler"), "Content-Type": "text/xml"},
    )
    assert again.status_code == 200
    assert again.json()[0]["created"] is False

    models = await api.http.get("/process-models", headers=api.auth("registrator-ab"))
    assert [m["id"] for m in models.json()] == ["api_life"]
    versions = await api.http.get("/process-models/api_life", headers=api.auth("auditor"))
    assert versions.json()["latest_version"] == 1
    bpmn = await api.http.get(
        "/process-models/api_life/bpmn?version=1", headers=api.auth("auditor")
    )
    assert bpmn.status_code == 200
    assert bpmn.headers["content-type"].startswith("application/xml")
    assert bpmn.content == LIFE.encode()

    instance_id = await api.start("api_life", "life-1", {"region": "SE-AB"})
    assert instance_id == "api_life:life-1"

    # Listed through visibility, for the agency and for the region taking part.
    async def listed() -> bool:
        page = await api.http.get(
            "/instances",
            params={"process_id": "api_life", "status": "running"},
            headers=api.auth("sos-officer"),
        )
        return [i["instance_id"] for i in page.json()["instances"]] == [instance_id]

    await until(listed)

    shown = await api.http.get(f"/instances/{instance_id}", headers=api.auth("sos-officer"))
    assert shown.status_code == 200
    case = shown.json()
    assert case["status"] == "running"
    assert case["version"] == 1
    assert case["variables"] == {"region": "SE-AB"}
    [review] = case["open_tasks"]
    assert set(review) == {
        "task_id",
        "element_id",
        "name",
        "candidates",
        "created",
        "due",
        "form_key",
    }
    assert review["task_id"] == "Review"
    assert review["candidates"] == ["org:SE-SOS/group:officer"]
    assert review["form_key"] == "test.api.Decision"

    # The officer's inbox has the task, with its form's schema one call away.
    async def in_inbox() -> bool:
        inbox = await api.http.get("/tasks", headers=api.auth("sos-officer"))
        return [(t["instance_id"], t["task_id"]) for t in inbox.json()["tasks"]] == [
            (instance_id, "Review")
        ]

    await until(in_inbox)
    detail = await api.http.get(
        f"/instances/{instance_id}/tasks/Review", headers=api.auth("sos-officer")
    )
    assert detail.json()["may_complete"] is True
    assert detail.json()["form_schema"]["properties"]["verdict"]["enum"] == ["yes", "no"]

    done = await api.complete(instance_id, "Review", {"verdict": "yes"}, "sos-officer")
    assert done.status_code == 200, done.text
    assert done.json()["actor"] == "sos-officer"
    assert done.json()["duplicate"] is False

    # The gateway needs `amount`: an incident, visible in the case and the list filter.
    shown = (await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))).json()
    [incident] = shown["incidents"]
    assert incident["element_id"] == "Check"

    async def flagged() -> bool:
        page = await api.http.get(
            "/instances", params={"has_incident": "true"}, headers=api.auth("operator")
        )
        return [i["instance_id"] for i in page.json()["instances"]] == [instance_id]

    await until(flagged)

    retried = await api.http.post(
        f"/instances/{instance_id}/incidents/{incident['incident_id']}/retry",
        json={"variables": {"amount": 5}},
        headers=api.auth("operator"),
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["incident_id"] == incident["incident_id"]

    shown = (await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))).json()
    assert shown["incidents"] == []
    assert shown["accepts_messages"] == ["supplement"]

    sent = await api.http.post(
        f"/instances/{instance_id}/messages/supplement",
        json={"payload": {"pages": 3}},
        headers=api.auth("registrator-ab"),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "name": "supplement",
        "received_by": ["Supplement"],
        "buffered": False,
        "duplicate": False,
    }

    # The region's registrator now sees Sign in their inbox; the officer does not.
    async def region_inbox() -> bool:
        inbox = await api.http.get("/tasks", headers=api.auth("registrator-ab"))
        return [t["task_id"] for t in inbox.json()["tasks"]] == ["Sign"]

    await until(region_inbox)
    officer_inbox = await api.http.get("/tasks", headers=api.auth("sos-officer"))
    assert officer_inbox.json()["tasks"] == []

    cancelled = await api.http.post(
        f"/instances/{instance_id}/cancel",
        json={"reason": "withdrawn by the applicant"},
        headers=api.auth("operator"),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["open_tasks"] == []

    # Ended cases are still read through the state query.
    shown = (await api.http.get(f"/instances/{instance_id}", headers=api.auth("auditor"))).json()
    assert shown["status"] == "cancelled"
    assert shown["variables"]["pages"] == 3

    async def listed_cancelled() -> bool:
        page = await api.http.get(
            "/instances", params={"status": "cancelled"}, headers=api.auth("auditor")
        )
        return [i["instance_id"] for i in page.json()["instances"]] == [instance_id]

    await until(listed_cancelled)


async def test_complete_last_task_ends_case_and_repeat_gets_first_result(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "one-1")
    first = await api.complete(
        instance_id, "Decide", {"verdict": "no"}, "sos-officer", idempotency_key="submit-1"
    )
    assert first.status_code == 200, first.text
    case = (await api.http.get(f"/instances/{instance_id}", headers=api.auth("sos-officer"))).json()
    assert case["status"] == "completed"
    assert case["outcome"] == "Beslutad"

    # The case has ended; the same submission again gets the first result.
    repeat = await api.complete(
        instance_id, "Decide", {"verdict": "no"}, "sos-officer", idempotency_key="submit-1"
    )
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["duplicate"] is True
    assert repeat.json()["completed"] == first.json()["completed"]

    # Another submission is a conflict, named as such.
    other = await api.complete(
        instance_id, "Decide", {"verdict": "yes"}, "sos-officer", idempotency_key="submit-2"
    )
    assert other.status_code == 409
    assert "already completed by sos-officer" in other.json()["detail"]


async def test_list_instances_paginates_with_tokens(api: Api):
    await api.deploy(ONE_TASK)
    started = {await api.start("api_one", f"page-{n}") for n in range(3)}

    async def all_listed() -> bool:
        page = await api.http.get(
            "/instances", params={"process_id": "api_one"}, headers=api.auth("sos-officer")
        )
        return len(page.json()["instances"]) == 3

    await until(all_listed)
    seen: list[str] = []
    token = None
    for _ in range(4):
        params = {"process_id": "api_one", "page_size": 2}
        if token:
            params["page_token"] = token
        page = (
            await api.http.get("/instances", params=params, headers=api.auth("sos-officer"))
        ).json()
        seen += [i["instance_id"] for i in page["instances"]]
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(started)
    bad = await api.http.get(
        "/instances", params={"page_token": "!!"}, headers=api.auth("sos-officer")
    )
    assert bad.status_code in (400, 422)
    assert bad.json()["error"] in ("bad_request", "invalid")


async def test_list_instances_filters_and_scopes_to_participants(api: Api):
    await api.deploy(LIFE)
    instance_id = await api.start("api_life", "filter-1", {"region": "SE-C"})
    await api.start("api_life", "filter-2", {"region": "SE-C"})

    async def found() -> bool:
        page = await api.http.get(
            "/instances",
            params={"business_key": "filter-1", "candidate": "org:SE-SOS/group:officer"},
            headers=api.auth("sos-officer"),
        )
        return [i["instance_id"] for i in page.json()["instances"]] == [instance_id]

    await until(found)
    # The region takes no part yet (its message and task come later): it sees nothing,
    # and reading the case directly answers as if there were no such case.
    page = await api.http.get("/instances", headers=api.auth("registrator-c"))
    assert page.json()["instances"] == []
    refused = await api.http.get(f"/instances/{instance_id}", headers=api.auth("registrator-c"))
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"no such instance: {instance_id}"
    none = await api.http.get(
        "/instances", params={"candidate": "group:nobody"}, headers=api.auth("auditor")
    )
    assert none.json()["instances"] == []


MESSAGE_START = bpmn("""
<bpmn:message id="MsgApplication" name="application"/>
<bpmn:process id="api_msgstart" isExecutable="true">
  <bpmn:extensionElements><niva:starters candidateOrgs="SE-SOS,SE-AB"/></bpmn:extensionElements>
  <bpmn:startEvent id="ByOfficer"/>
  <bpmn:sequenceFlow id="f1" sourceRef="ByOfficer" targetRef="OfficerEnd"/>
  <bpmn:endEvent id="OfficerEnd" name="Internt"/>
  <bpmn:startEvent id="ByApplication">
    <bpmn:extensionElements><niva:form key="test.api.Start"/></bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgApplication"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="ByApplication" targetRef="Handle"/>
  <bpmn:userTask id="Handle" name="Handlägg"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Handle" targetRef="ApplicationEnd"/>
  <bpmn:endEvent id="ApplicationEnd" name="Ansökan"/>
</bpmn:process>
""")


async def test_start_instance_at_message_start_event_checks_its_form(api: Api):
    await api.deploy(MESSAGE_START)
    plain = await api.start("api_msgstart", "plain-1")
    case = (await api.http.get(f"/instances/{plain}", headers=api.auth("sos-officer"))).json()
    assert case["outcome"] == "Internt"

    refused = await api.http.post(
        "/instances",
        json={
            "process_id": "api_msgstart",
            "business_key": "app-1",
            "title": "t",
            "start_event": "ByApplication",
            "variables": {"region": "nowhere"},
        },
        headers=api.auth("registrator-ab"),
    )
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["loc"] == ["region"]
    started = await api.start(
        "api_msgstart",
        "app-1",
        {"region": "SE-AB"},
        subject="registrator-ab",
        start_event="ByApplication",
    )
    case = (await api.http.get(f"/instances/{started}", headers=api.auth("registrator-ab"))).json()
    assert [t["task_id"] for t in case["open_tasks"]] == ["Handle"]
    assert case["participants"] == ["SE-AB"]

    wrong = await api.http.post(
        "/instances",
        json={
            "process_id": "api_msgstart",
            "business_key": "app-2",
            "title": "t",
            "start_event": "Handle",
        },
        headers=api.auth("sos-officer"),
    )
    assert wrong.status_code == 422
    assert "its message start events: ByApplication" in wrong.json()["detail"]
