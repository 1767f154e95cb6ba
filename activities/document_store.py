"""The document store: write-once, content-addressed, with an index per case.

A document's id is the SHA-256 of its bytes (64 lower-case hex digits), so storing the same
bytes twice stores them once and returns the same id, and anyone holding an id can check
the bytes: `DocumentStore.get` recomputes the hash and raises `DocumentIntegrityError`
naming the document when it differs. Each case has an index of the documents filed under
it, written once as well (filing the same document again changes nothing).

Two implementations: `FilesystemDocumentStore` (the default, a directory) and
`S3DocumentStore` (any S3-compatible bucket; boto3 is imported only when it is used). Both
are synchronous: activities call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import quote

from activities.errors import DocumentIntegrityError, DocumentNotFoundError
from activities.settings import ActivitySettings

__all__ = [
    "DocumentStore",
    "FilesystemDocumentStore",
    "S3DocumentStore",
    "document_id",
    "document_store_from_settings",
]

_DOCUMENT_ID = re.compile(r"^[0-9a-f]{64}$")


def document_id(data: bytes) -> str:
    """The id of a document with these bytes: their SHA-256, in hex."""
    return hashlib.sha256(data).hexdigest()


def _case_key(case_id: str) -> str:
    """A case id as one file or key name: percent-encoded, readable for short ids."""
    quoted = quote(case_id, safe="-_.")
    # File names stop at 255 bytes; a very long business key gets its hash instead.
    return quoted if len(quoted) <= 200 else "sha256-" + document_id(case_id.encode())


class DocumentStore(ABC):
    """Write-once storage of documents by content hash, with a per-case index."""

    @abstractmethod
    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its id, the SHA-256 hex digest."""

    @abstractmethod
    def get(self, document_id: str) -> bytes:
        """The bytes of ``document_id``, checked against the id.

        Raises:
            DocumentNotFoundError: no such document.
            DocumentIntegrityError: the stored bytes do not hash to the id.
        """

    @abstractmethod
    def add_to_case(self, case_id: str, document_id: str) -> None:
        """File ``document_id`` under ``case_id`` (a no-op if it is filed already)."""

    @abstractmethod
    def list_case(self, case_id: str) -> list[str]:
        """The ids of the documents filed under ``case_id``, sorted."""

    @staticmethod
    def _check_id(document_id: str, where: str) -> None:
        if not _DOCUMENT_ID.match(document_id):
            raise DocumentNotFoundError(document_id, f"{where}: not a SHA-256 hex digest")

    @staticmethod
    def _verified(document_id: str, data: bytes, where: str) -> bytes:
        actual = hashlib.sha256(data).hexdigest()
        if actual != document_id:
            raise DocumentIntegrityError(document_id, actual, where)
        return data


class FilesystemDocumentStore(DocumentStore):
    """Documents as read-only files under ``root``.

    Layout: ``objects/<first 2 hex>/<id>`` for the bytes, ``cases/<case>/<id>`` (empty
    marker files) for the index. A document is written to a temporary file and hard-linked
    to its name, which fails if the name exists: a stored document is never overwritten,
    even by two workers storing it at once.

    Args:
        root: the store's directory; created when missing.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _object_path(self, document_id: str) -> Path:
        return self.root / "objects" / document_id[:2] / document_id

    def put(self, data: bytes) -> str:
        """Store ``data`` once; return its id."""
        doc_id = document_id(data)
        path = self._object_path(doc_id)
        if path.exists():
            return doc_id
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".{doc_id}.{uuid.uuid4().hex}.tmp"
        try:
            with temporary.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            temporary.chmod(0o444)
            # Stored meanwhile by another worker: the same bytes under the same id.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return doc_id

    def get(self, document_id: str) -> bytes:
        """The checked bytes of ``document_id``."""
        self._check_id(document_id, str(self.root))
        path = self._object_path(document_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise DocumentNotFoundError(document_id, str(path)) from exc
        return self._verified(document_id, data, str(path))

    def add_to_case(self, case_id: str, document_id: str) -> None:
        """File ``document_id`` under ``case_id``."""
        self._check_id(document_id, str(self.root))
        folder = self.root / "cases" / _case_key(case_id)
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(folder / document_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))

    def list_case(self, case_id: str) -> list[str]:
        """The ids filed under ``case_id``."""
        folder = self.root / "cases" / _case_key(case_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if _DOCUMENT_ID.match(p.name))


class S3DocumentStore(DocumentStore):
    """Documents in an S3-compatible bucket.

    Keys: ``<prefix>objects/<id>`` for the bytes, ``<prefix>cases/<case>/<id>`` (empty
    objects) for the index. Writes are conditional (``If-None-Match: *``), so an object
    is never replaced; a server that ignores the condition still ends up with the same
    bytes, since the key is their hash.

    Args:
        bucket: the bucket.
        prefix: prepended to every key (``niva/documents/``).
        endpoint_url: an S3-compatible endpoint; None for AWS.
        region: the bucket's region.
        client: a boto3 S3 client to use instead of creating one (tests, custom sessions).
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import boto3  # the S3 option only: not every deployment installs boto3
            except ImportError as exc:
                raise RuntimeError(
                    f"the S3 document store (bucket {bucket}) needs boto3: "
                    "pip install boto3, or unset s3_bucket to use the filesystem store"
                ) from exc
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    def _object_key(self, document_id: str) -> str:
        return f"{self.prefix}objects/{document_id}"

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _put_once(self, key: str, body: bytes, **extra: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", **extra
            )
        except ClientError as exc:
            # 412: the object exists (write-once held); 409: a concurrent conditional write.
            code = exc.response.get("Error", {}).get("Code")
            if code not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                raise

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def put(self, data: bytes) -> str:
        """Store ``data`` once; return its id."""
        doc_id = document_id(data)
        key = self._object_key(doc_id)
        if not self._exists(key):
            self._put_once(key, data)
        return doc_id

    def get(self, document_id: str) -> bytes:
        """The checked bytes of ``document_id``."""
        self._check_id(document_id, self._where(self.prefix))
        from botocore.exceptions import ClientError

        key = self._object_key(document_id)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise DocumentNotFoundError(document_id, self._where(key)) from exc
            raise
        data: bytes = response["Body"].read()
        return self._verified(document_id, data, self._where(key))

    def add_to_case(self, case_id: str, document_id: str) -> None:
        """File ``document_id`` under ``case_id``."""
        self._check_id(document_id, self._where(self.prefix))
        self._put_once(f"{self.prefix}cases/{_case_key(case_id)}/{document_id}", b"")

    def list_case(self, case_id: str) -> list[str]:
        """The ids filed under ``case_id``."""
        folder = f"{self.prefix}cases/{_case_key(case_id)}/"
        ids: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(folder) :]
                if _DOCUMENT_ID.match(name):
                    ids.append(name)
        return sorted(ids)


def document_store_from_settings(settings: ActivitySettings) -> DocumentStore:
    """The S3 store when ``s3_bucket`` is set, else the filesystem store."""
    if settings.s3_bucket:
        return S3DocumentStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    return FilesystemDocumentStore(settings.documents_dir)
