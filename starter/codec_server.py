"""The codec server of the Temporal Web UI: decrypts payloads for people allowed to see them.

The UI (Settings → Codec Server) POSTs ``{"payloads": [...]}`` in Temporal's JSON form
(metadata values and data in base64) to ``/decode`` and ``/encode``, from the browser, so
the server answers CORS requests from the UI's origins (``NIVA_CODEC_CORS_ORIGINS``). It
uses the keys of `starter.settings.CodecSettings`; run it beside the UI with
``python -m starter.codec_server``, reachable only from where the UI's users are.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from starter.codec import AesGcmCodec, codec_from_settings
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
    codec: AesGcmCodec | None = None, *, settings: CodecSettings | None = None
) -> FastAPI:
    """The codec server's app.

    Args:
        codec: the codec; default: from the settings (which must configure keys).
        settings: the codec settings; default: from the environment.
    """
    settings = settings or CodecSettings()
    codec = codec or codec_from_settings(settings)
    if codec is None:
        raise ValueError("the codec server needs keys: set NIVA_CODEC_KEYS")
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
        """Decrypt the payloads (unencrypted ones come back unchanged)."""
        try:
            return _to_json(await active.decode(_from_json(body)))
        except ValueError as exc:  # unknown key or altered ciphertext
            raise HTTPException(400, str(exc)) from exc

    @app.post("/encode")
    async def encode(body: PayloadsBody) -> PayloadsBody:
        """Encrypt the payloads with the newest key."""
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
