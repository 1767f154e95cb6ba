"""Large payloads out of the event history: model sources and big values in the document store.

Every case receives its model (`process_models.deployments.ModelSource`: the BPMN text and
its reference data, tens of KB) in its first event, again in the first event of each
continued run, in the marker of each call activity's model lookup and in the start of each
child. Two payload codecs keep those bytes in niva's document store
(`activities.document_store`, write-once and content-addressed) instead:

- `ModelSourceCodec` replaces every model source inside a JSON payload with a short
  reference ``{"process_id", "version", "content_hash", "niva_model_document"}``: the
  payload stays JSON, so the Temporal UI shows a case's input as that reference plus the
  start variables. The stored document is the model source's canonical JSON, so one model
  version is stored once for all its cases and runs, whatever else the payload holds.
- `StoredPayloadCodec` is a claim check for any other payload of `LARGE_PAYLOAD_BYTES` or
  more: the whole payload is stored and the history holds ``{"stored_payload": id}``.

`niva_payload_codec` chains them around the optional encryption (`starter.codec`):
models are taken out first (so their documents are shared, and readable like the model
store), then the payload is encrypted, then a still-large payload is claim-checked (so
what the store holds of a case is ciphertext when encryption is on). Decoding runs the
chain backwards, and a payload without the codecs' metadata, such as every payload
recorded before them, passes through unchanged. Content addressing makes a stored payload
immutable: a replay reads exactly the bytes the run read, and `DocumentStore.get` checks
them against their id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from activities.document_store import DocumentStore, document_id, document_store_from_settings
from starter.codec import codec_from_settings
from starter.settings import CodecSettings, DataSettings, ServiceSettings

__all__ = [
    "LARGE_PAYLOAD_BYTES",
    "MODEL_METADATA",
    "MODEL_REFERENCE_KEY",
    "STORED_METADATA",
    "CodecChain",
    "ModelSourceCodec",
    "StoredPayloadCodec",
    "default_document_store",
    "model_reference_ids",
    "niva_data_converter",
    "niva_payload_codec",
    "payloads_in",
    "restore_payloads",
]

LARGE_PAYLOAD_BYTES = 16 * 1024
"""Payloads of this size or more (after the models are taken out) are claim-checked.

niva's own payloads are small: in the recorded histories, a model aside, the largest
activity result is 2.8 KB and the largest state a continued run carries 10.5 KB (thirty
years of a Norwegian lifecycle). 16 KiB is above them, so routine traffic never pays a
store round trip (a file write, or an S3 PUT, on encode; a read on every worker-cache miss
and replay), while what is unusual (large variables, big service results) leaves the
history before it nears Temporal's per-payload warning at 256 KiB. The SDK's own claim
check defaults to 256 KiB because it guards that limit; niva's aim is the history's size,
which every replay and worker cache reads."""

MODEL_REFERENCE_KEY = "niva_model_document"
"""The key of a model reference that holds the stored model's document id."""

MODEL_METADATA = "niva-model-documents"
"""Payload metadata: the ids of the model documents the payload refers to, comma-separated."""

STORED_METADATA = "niva-stored-payload"
"""Payload metadata: the document id of the whole payload a claim check stands for."""

_MODEL_KEYS = frozenset({"process_id", "version", "content_hash", "bpmn"})
_REFERENCE_KEYS = frozenset({"process_id", "version", "content_hash", MODEL_REFERENCE_KEY})
_JSON = b"json/plain"


def _dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    return json.dumps(
        value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False
    ).encode()


def _is_model_source(value: dict[str, Any]) -> bool:
    return value.keys() >= _MODEL_KEYS and isinstance(value["bpmn"], str)


def _is_model_reference(value: dict[str, Any]) -> bool:
    return value.keys() == _REFERENCE_KEYS and isinstance(value[MODEL_REFERENCE_KEY], str)


def model_reference_ids(payload: Payload) -> list[str]:
    """The model documents a payload refers to (none for a payload that holds no model)."""
    listed = payload.metadata.get(MODEL_METADATA, b"").decode()
    return [item for item in listed.split(",") if item]


class _Documents:
    """The document store with what a worker asks of it again and again kept in memory.

    Stored documents never change (their id is their hash), so a model read once serves
    every later case, and a model known to be stored is not stored again. The codecs call
    it from worker threads, hence the lock around the memory (not around the store).
    """

    def __init__(self, store: DocumentStore, *, cache_size: int = 32) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._stored: set[str] = set()
        self._models: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size

    def put_model(self, source: dict[str, Any]) -> str:
        data = _dumps(source, sort_keys=True)
        doc_id = document_id(data)
        with self._lock:
            known = doc_id in self._stored
        if not known:
            self.store.put(data)
            with self._lock:
                self._stored.add(doc_id)
                self._remember(doc_id, source)
        return doc_id

    def model(self, doc_id: str) -> dict[str, Any]:
        with self._lock:
            cached = self._models.get(doc_id)
        if cached is None:
            cached = json.loads(self.store.get(doc_id))
            if not isinstance(cached, dict) or not _is_model_source(cached):
                raise ValueError(f"document {doc_id} is not a model source")
        with self._lock:
            self._remember(doc_id, cached)
        return cached

    def _remember(self, doc_id: str, source: dict[str, Any]) -> None:
        self._models[doc_id] = source
        self._models.move_to_end(doc_id)
        while len(self._models) > self._cache_size:
            self._models.popitem(last=False)


class ModelSourceCodec(PayloadCodec):
    """Takes model sources out of JSON payloads into the document store, and back.

    Args:
        store: the document store the models are kept in.
    """

    def __init__(self, store: DocumentStore) -> None:
        self._documents = _Documents(store)

    @property
    def store(self) -> DocumentStore:
        """The document store the models are kept in."""
        return self._documents.store

    def extract(self, payload: Payload) -> Payload:
        """The payload with each model source replaced by its reference (stored once)."""
        if payload.metadata.get("encoding") != _JSON or b'"bpmn"' not in payload.data:
            return payload
        found: list[str] = []

        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                if _is_model_source(value):
                    doc_id = self._documents.put_model(value)
                    found.append(doc_id)
                    return {
                        "process_id": value["process_id"],
                        "version": value["version"],
                        "content_hash": value["content_hash"],
                        MODEL_REFERENCE_KEY: doc_id,
                    }
                return {key: walk(item) for key, item in value.items()}
            if isinstance(value, list):
                return [walk(item) for item in value]
            return value

        replaced = walk(json.loads(payload.data))
        if not found:
            return payload
        result = Payload(metadata=dict(payload.metadata), data=_dumps(replaced))
        result.metadata[MODEL_METADATA] = ",".join(dict.fromkeys(found)).encode()
        return result

    def restore(self, payload: Payload) -> Payload:
        """The payload with each model reference replaced by the stored model source.

        Raises:
            DocumentNotFoundError: a referenced model is not in the store.
            DocumentIntegrityError: its stored bytes do not match its id.
        """
        ids = set(model_reference_ids(payload))
        if not ids:
            return payload

        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                if _is_model_reference(value) and value[MODEL_REFERENCE_KEY] in ids:
                    return self._documents.model(value[MODEL_REFERENCE_KEY])
                return {key: walk(item) for key, item in value.items()}
            if isinstance(value, list):
                return [walk(item) for item in value]
            return value

        metadata = {k: v for k, v in payload.metadata.items() if k != MODEL_METADATA}
        return Payload(metadata=metadata, data=_dumps(walk(json.loads(payload.data))))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Replace model sources with references (file I/O off the event loop)."""
        if not any(b'"bpmn"' in p.data for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self.extract(p) for p in payloads])

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Replace model references with the stored sources; other payloads pass through."""
        if not any(MODEL_METADATA in p.metadata for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self.restore(p) for p in payloads])


class StoredPayloadCodec(PayloadCodec):
    """A claim check: payloads of ``threshold`` bytes or more go to the document store.

    Args:
        store: the document store.
        threshold: the size (serialized payload bytes) from which a payload is stored.
    """

    def __init__(self, store: DocumentStore, *, threshold: int = LARGE_PAYLOAD_BYTES) -> None:
        self.store = store
        self.threshold = threshold

    def check_in(self, payload: Payload) -> Payload:
        """The payload, or a claim for it when it is large."""
        size = payload.ByteSize()
        if size < self.threshold:
            return payload
        doc_id = self.store.put(payload.SerializeToString())
        return Payload(
            metadata={"encoding": _JSON, STORED_METADATA: doc_id.encode()},
            data=_dumps({"stored_payload": doc_id, "bytes": size}),
        )

    def check_out(self, payload: Payload) -> Payload:
        """The stored payload a claim stands for; any other payload unchanged.

        Raises:
            DocumentNotFoundError: the payload is not in the store.
            DocumentIntegrityError: its stored bytes do not match its id.
        """
        doc_id = payload.metadata.get(STORED_METADATA)
        if doc_id is None:
            return payload
        return Payload.FromString(self.store.get(doc_id.decode()))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Store each large payload; return claims for them."""
        if all(p.ByteSize() < self.threshold for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self.check_in(p) for p in payloads])

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Read back each claimed payload; other payloads pass through."""
        if not any(STORED_METADATA in p.metadata for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self.check_out(p) for p in payloads])


class CodecChain(PayloadCodec):
    """Codecs applied in order on encode and in reverse order on decode."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encode with each codec in turn."""
        result = list(payloads)
        for codec in self.codecs:
            result = await codec.encode(result)
        return result

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decode with each codec, last first."""
        result = list(payloads)
        for codec in reversed(self.codecs):
            result = await codec.decode(result)
        return result


def niva_payload_codec(
    store: DocumentStore,
    *,
    encryption: PayloadCodec | None = None,
    models: bool = True,
    threshold: int = LARGE_PAYLOAD_BYTES,
) -> CodecChain:
    """niva's codec: models out, then the optional encryption, then the claim check.

    Args:
        store: the document store of the models and large payloads.
        encryption: the encryption codec, if any (`starter.codec.codec_from_settings`).
        models: take model sources out (and put them back); the codec server leaves them
            as references, which is what the Web UI should show.
        threshold: the claim check's size (`LARGE_PAYLOAD_BYTES`).
    """
    codecs: list[PayloadCodec] = [ModelSourceCodec(store)] if models else []
    if encryption is not None:
        codecs.append(encryption)
    codecs.append(StoredPayloadCodec(store, threshold=threshold))
    return CodecChain(codecs)


def default_document_store(env: Mapping[str, str] | None = None) -> DocumentStore:
    """The document store of ``NIVA_SERVICE_*`` / ``NIVA_DATA_DIR`` (the activities' own).

    Args:
        env: an environment whose ``NIVA_DATA_DIR`` wins over the process's own (as
            `worker.connect` is given one by ``niva dev``, whose children share it).
    """
    data = DataSettings(dir=env["NIVA_DATA_DIR"]) if env and "NIVA_DATA_DIR" in env else None
    return document_store_from_settings(ServiceSettings().for_data_dir(data or DataSettings()))


def niva_data_converter(
    store: DocumentStore | None = None, *, codec_settings: CodecSettings | None = None
) -> DataConverter:
    """The data converter of every niva client, worker and replay: pydantic JSON with
    `niva_payload_codec` over the document store, encrypting when keys are configured.

    Args:
        store: the document store; default: the configured one (`default_document_store`).
        codec_settings: the encryption settings; default: from the environment.
    """
    codec = niva_payload_codec(
        store or default_document_store(), encryption=codec_from_settings(codec_settings)
    )
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every `Payload` inside a protobuf message (a history event, a whole history), in
    place: replacing one's content with ``CopyFrom`` changes the message."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if not isinstance(item, Message):
                continue
            if isinstance(item, Payload):
                yield item
            else:
                yield from payloads_in(item)


def restore_payloads(payloads: Sequence[Payload], store: DocumentStore) -> list[Payload]:
    """Payloads as they were before the document-store codecs, read synchronously (the
    audit trail's reading of a recorded history). Encrypted payloads stay encrypted.

    Raises:
        DocumentNotFoundError, DocumentIntegrityError: a stored payload is missing or
            altered.
    """
    claims = StoredPayloadCodec(store)
    models = ModelSourceCodec(store)
    return [models.restore(claims.check_out(p)) for p in payloads]
