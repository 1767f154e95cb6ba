"""The document store, filesystem and S3 (moto's server on loopback): write-once,
content-addressed, hash-checked on read, with a write-once index per case."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.document_store import (
    DocumentStore,
    FilesystemDocumentStore,
    S3DocumentStore,
    document_store_from_settings,
)
from activities.errors import DocumentIntegrityError, DocumentNotFoundError
from activities.settings import ActivitySettings
from tests.support.activities import S3Endpoint

CASE = "se_nhv_designation:2025-leversvikt"

Tamper = Callable[[str, bytes], None]


@pytest.fixture(params=["filesystem", "s3"])
def store_and_tamper(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[DocumentStore, Tamper]]:
    """Each store, with a function that overwrites a stored document behind its back."""
    if request.param == "filesystem":
        fs = FilesystemDocumentStore(tmp_path / "documents")

        def tamper_file(doc_id: str, data: bytes) -> None:
            path = fs.root / "objects" / doc_id[:2] / doc_id
            path.chmod(0o644)
            path.write_bytes(data)

        yield fs, tamper_file
    else:
        s3: S3Endpoint = request.getfixturevalue("s3_endpoint")
        prefix = f"test-{uuid.uuid4().hex[:8]}/"
        store = S3DocumentStore(bucket=s3.bucket, prefix=prefix, client=s3.client)

        def tamper_object(doc_id: str, data: bytes) -> None:
            s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}objects/{doc_id}", Body=data)

        yield store, tamper_object


def test_document_store_id_is_sha256(store_and_tamper: tuple[DocumentStore, Tamper]):
    store, _ = store_and_tamper
    data = b"%PDF-1.7 beslut"
    doc_id = store.put(data)
    assert doc_id == hashlib.sha256(data).hexdigest()
    assert store.get(doc_id) == data


def test_document_store_same_content_same_id(store_and_tamper: tuple[DocumentStore, Tamper]):
    store, _ = store_and_tamper
    assert store.put(b"remiss") == store.put(b"remiss")
    assert store.put(b"remiss") != store.put(b"remiss ")


def test_document_store_tampered_document_fails_hash_check(
    store_and_tamper: tuple[DocumentStore, Tamper],
):
    store, tamper = store_and_tamper
    doc_id = store.put(b"Tillstand for SE-M")
    tamper(doc_id, b"Tillstand for SE-O")
    with pytest.raises(DocumentIntegrityError) as caught:
        store.get(doc_id)
    assert doc_id in str(caught.value)
    assert caught.value.document_id == doc_id
    assert caught.value.actual_sha256 == hashlib.sha256(b"Tillstand for SE-O").hexdigest()


def test_document_store_unknown_id_is_not_found(store_and_tamper: tuple[DocumentStore, Tamper]):
    store, _ = store_and_tamper
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(DocumentNotFoundError, match=missing):
        store.get(missing)
    with pytest.raises(DocumentNotFoundError, match="not a SHA-256"):
        store.get("../../etc/passwd")


def test_document_store_case_index_is_write_once(store_and_tamper: tuple[DocumentStore, Tamper]):
    store, _ = store_and_tamper
    first, second = store.put(b"pdf"), store.put(b"html")
    store.add_to_case(CASE, second)
    store.add_to_case(CASE, first)
    store.add_to_case(CASE, first)
    store.add_to_case("no_national_service_lifecycle:ntj/1", first)
    assert store.list_case(CASE) == sorted([first, second])
    assert store.list_case("no_national_service_lifecycle:ntj/1") == [first]
    assert store.list_case("se_nhv_permit:unknown") == []


def test_filesystem_store_writes_once_read_only(tmp_path: Path):
    store = FilesystemDocumentStore(tmp_path / "documents")
    doc_id = store.put(b"beslut")
    path = tmp_path / "documents" / "objects" / doc_id[:2] / doc_id
    before = path.stat()
    assert store.put(b"beslut") == doc_id
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not os.stat(path).st_mode & 0o222  # nobody may write it
    files = [p for p in (tmp_path / "documents" / "objects").rglob("*") if p.is_file()]
    assert files == [path]  # stored once, no temporary left behind


def test_s3_store_never_replaces_an_object(s3_endpoint: S3Endpoint):
    prefix = f"test-{uuid.uuid4().hex[:8]}/"
    store = S3DocumentStore(bucket=s3_endpoint.bucket, prefix=prefix, client=s3_endpoint.client)
    doc_id = store.put(b"permit")
    key = f"{prefix}objects/{doc_id}"
    etag = s3_endpoint.client.head_object(Bucket=s3_endpoint.bucket, Key=key)["ETag"]
    # Bypass the existence check: the conditional write itself must refuse to replace.
    store._put_once(key, b"something else")
    assert s3_endpoint.client.head_object(Bucket=s3_endpoint.bucket, Key=key)["ETag"] == etag
    assert store.get(doc_id) == b"permit"


def test_s3_store_from_settings_uses_endpoint(
    s3_endpoint: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # boto3 finds credentials by its own chain; the settings carry none.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = document_store_from_settings(
        ActivitySettings.in_data_dir(
            tmp_path,
            s3_bucket=s3_endpoint.bucket,
            s3_prefix="from-settings/",
            s3_endpoint_url=s3_endpoint.endpoint_url,
            s3_region="eu-north-1",
        )
    )
    assert isinstance(store, S3DocumentStore)
    doc_id = store.put(b"call for applications")
    listed = s3_endpoint.client.list_objects_v2(
        Bucket=s3_endpoint.bucket, Prefix="from-settings/objects/"
    )
    assert [item["Key"] for item in listed["Contents"]] == [f"from-settings/objects/{doc_id}"]


def test_filesystem_store_is_default(tmp_path: Path):
    store = document_store_from_settings(ActivitySettings.in_data_dir(tmp_path))
    assert isinstance(store, FilesystemDocumentStore)
    assert store.root == tmp_path / "documents"
