"""Attachments: uploaded write-once, filed under the case, read back checked."""

from __future__ import annotations

import hashlib

from tests.support.api import ONE_TASK, Api


async def test_upload_list_download_document(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "docs-1")
    content = b"%PDF-1.7 application attachment"
    uploaded = await api.http.post(
        f"/instances/{instance_id}/documents",
        files={"file": ("ansokan.pdf", content, "application/pdf")},
        headers=api.auth("sos-officer"),
    )
    assert uploaded.status_code == 201, uploaded.text
    digest = hashlib.sha256(content).hexdigest()
    assert uploaded.json() == {"document_id": digest, "sha256": digest, "size": len(content)}
    # The same bytes again: the same id, filed once.
    again = await api.http.post(
        f"/instances/{instance_id}/documents",
        files={"file": ("copy.pdf", content)},
        headers=api.auth("sos-officer"),
    )
    assert again.json()["document_id"] == digest

    listed = await api.http.get(f"/instances/{instance_id}/documents", headers=api.auth("auditor"))
    assert listed.json() == {"documents": [{"document_id": digest, "sha256": digest, "size": None}]}
    fetched = await api.http.get(
        f"/instances/{instance_id}/documents/{digest}", headers=api.auth("auditor")
    )
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["x-content-sha256"] == digest

    # A document of another case is not this case's document.
    other_id = await api.start("api_one", "docs-2")
    elsewhere = await api.http.get(
        f"/instances/{other_id}/documents/{digest}", headers=api.auth("auditor")
    )
    assert elsewhere.status_code == 404
    assert api.documents.list_case(instance_id) == [digest]

    # The payload refers to the attachment by id.
    done = await api.complete(
        instance_id, "Decide", {"verdict": "yes", "comment": digest}, "sos-officer"
    )
    assert done.status_code == 200


async def test_upload_by_organisation_outside_the_case_is_not_found(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "docs-3")
    response = await api.http.post(
        f"/instances/{instance_id}/documents",
        files={"file": ("x.pdf", b"x")},
        headers=api.auth("registrator-ab"),
    )
    # A case the organisation may not read answers as if it did not exist.
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert api.documents.list_case(instance_id) == []
