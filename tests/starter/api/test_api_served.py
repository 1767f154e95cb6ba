"""The app served by uvicorn on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

import httpx

from tests.support.api import ONE_TASK, Api


async def test_served_api_answers_over_http(api: Api, served: str):
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        spec = (await http.get("/openapi.json")).json()
        assert "/instances/{instance_id}/tasks/{task_id}/complete" in spec["paths"]

        modeler = {"Authorization": f"Bearer {api.tokens['modeler']}"}
        deployed = await http.post(
            "/process-models", content=ONE_TASK, headers={**modeler, "Content-Type": "text/xml"}
        )
        assert deployed.status_code == 201
        officer = {"Authorization": f"Bearer {api.tokens['sos-officer']}"}
        started = await http.post(
            "/instances",
            json={"process_id": "api_one", "business_key": "served-1", "title": "Over HTTP"},
            headers=officer,
        )
        assert started.status_code == 201
        instance_id = started.json()["instance_id"]
        done = await http.post(
            f"/instances/{instance_id}/tasks/Decide/complete",
            json={"payload": {"verdict": "yes"}, "idempotency_key": "http-1"},
            headers=officer,
        )
        assert done.status_code == 200, done.text
        unauthorised = await http.get(f"/instances/{instance_id}")
        assert unauthorised.status_code == 401
        assert unauthorised.headers["www-authenticate"] == "Bearer"
