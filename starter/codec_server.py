"""The codec server of the Temporal Web UI: decodes payloads for people allowed to see them.

The UI (Settings → Codec Server) POSTs ``{"payloads": [...]}`` in Temporal's JSON form
(metadata values and data in base64) to ``/decode`` and ``/encode``, from the browser, so
the server answers CORS requests from the UI's origins (``NIVA_CODEC_CORS_ORIGINS``). It
reads large payloads back from the document store (`starter.payload_store`) and decrypts
with the keys of `starter.settings.CodecSettings`, if any; a model source stays the short
reference the history holds (process, version, content hash, document id), so a case's
input shows as that and its start variables. Run it beside the UI with
``python -m starter.codec_server``, reachable only from where the UI's users are.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from activities.document_store import DocumentStore
from activities.errors import DocumentStoreError
from starter.codec import codec_from_settings
from starter.payload_store import default_document_store, niva_payload_codec
from starter.settings import CodecSettings

__all__ = ["PayloadsBody", "create_codec_app", "main"]


class PayloadsBody(BaseModel):
    """The codec-server protocol's body: payloads in Temporal's JSON form."""

    payloads: list[dict[str, Any]] = Field(default_factory=list)


def _from_json(body: PayloadsBody) -> list[Payload]:
    try:
        return [json_format.ParseDict(item, Payload()) for item in body.payloads]
    except json_format.ParseError as exc:
        raise HTTPException(
            400, f"payloads must be Temporal payloads in JSON (base64 metadata and data): {exc}"
        ) from exc


def _to_json(payloads: list[Payload]) -> PayloadsBody:
    return PayloadsBody(payloads=[json_format.MessageToDict(p) for p in payloads])


def create_codec_app(
    codec: PayloadCodec | None = None,
    *,
    settings: CodecSettings | None = None,
    store: DocumentStore | None = None,
) -> FastAPI:
    """The codec server's app.

    Args:
        codec: the codec; default: the document store's claim check around the
            encryption the settings configure (`starter.payload_store.niva_payload_codec`,
            model references left as they are).
        settings: the codec settings; default: from the environment.
        store: the document store; default: the configured one.
    """
    settings = settings or CodecSettings()
    if codec is None:
        codec = niva_payload_codec(
            store or default_document_store(),
            encryption=codec_from_settings(settings),
            models=False,
        )
    app = FastAPI(title="niva codec server", docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
    )
    active = codec

    @app.post("/decode")
    async def decode(body: PayloadsBody) -> PayloadsBody:
        """Read back stored payloads and decrypt (plain ones come back unchanged)."""
        try:
            return _to_json(await active.decode(_from_json(body)))
        except (ValueError, DocumentStoreError) as exc:
            # An unknown key, altered ciphertext, a missing or altered stored payload.
            raise HTTPException(400, str(exc)) from exc

    @app.post("/encode")
    async def encode(body: PayloadsBody) -> PayloadsBody:
        """Encrypt with the newest key (if any) and store what is large."""
        return _to_json(await active.encode(_from_json(body)))

    return app


def main() -> None:
    """Serve the codec server with uvicorn on ``NIVA_CODEC_SERVER_HOST:PORT``."""
    import uvicorn

    settings = CodecSettings()
    uvicorn.run(
        create_codec_app(settings=settings), host=settings.server_host, port=settings.server_port
    )


if __name__ == "__main__":
    main()
