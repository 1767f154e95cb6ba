"""Optional payload encryption: AES-GCM over every payload Temporal stores.

With keys configured (`starter.settings.CodecSettings`, ``NIVA_CODEC_KEYS``), the client of
`worker.connect` encrypts each payload before it leaves the process, so the server's
histories, the Web UI and any export hold ciphertext only; the worker, the API and replay
decrypt with the same keys. Rotation: payloads are encrypted with the newest key and
decrypted with whichever known key their metadata names, so an old key is kept until no
history still needs it. The Web UI decodes through `starter.codec_server`.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from starter.settings import CodecSettings

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "AesGcmCodec",
    "CodecKeyError",
    "codec_from_settings",
    "parse_key",
]

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""

KEY_ID_METADATA = "encryption-key-id"
"""The metadata entry naming the key a payload was encrypted with."""

_NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """A key is malformed, or a payload names a key this codec does not have."""


def parse_key(key_id: str, value: str) -> bytes:
    """Decode one configured key: base64 of 16, 24 or 32 bytes (AES-128/192/256).

    Raises:
        CodecKeyError: the value is not base64 or has the wrong length.
    """
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CodecKeyError(
            f"codec key {key_id!r} is not base64: give 32 random bytes in base64, e.g. "
            "`python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())'`"
        ) from exc
    if len(key) not in (16, 24, 32):
        raise CodecKeyError(
            f"codec key {key_id!r} is {len(key)} bytes long: AES-GCM needs 16, 24 or 32 "
            "(32 recommended)"
        )
    return key


class AesGcmCodec(PayloadCodec):
    """Encrypts payloads with AES-GCM; the key id travels in the payload's metadata.

    The key id is also the authenticated data, so a payload cannot be moved under another
    key's name. Payloads that are not encrypted (written before encryption was turned on)
    pass through decoding unchanged.

    Args:
        keys: key id -> 16, 24 or 32 key bytes.
        encrypt_with: the id of the key new payloads are encrypted with.
    """

    def __init__(self, keys: Mapping[str, bytes], encrypt_with: str) -> None:
        if encrypt_with not in keys:
            raise CodecKeyError(
                f"the encryption key {encrypt_with!r} is not among the keys "
                f"({', '.join(sorted(keys)) or 'none'}): add it to NIVA_CODEC_KEYS"
            )
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._encrypt_with = encrypt_with

    @property
    def key_id(self) -> str:
        """The id of the key new payloads are encrypted with."""
        return self._encrypt_with

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload (metadata and data) with the newest key."""
        key_id = self._encrypt_with
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt each encrypted payload with the key it names.

        Raises:
            CodecKeyError: a payload names a key this codec does not have.
            ValueError: a payload was altered or is not this codec's ciphertext.
        """
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise CodecKeyError(
                    f"a payload is encrypted with key {key_id!r}, which is not configured "
                    f"(known: {', '.join(sorted(self._ciphers))}): add it to NIVA_CODEC_KEYS"
                )
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            try:
                plain = cipher.decrypt(nonce, sealed, key_id.encode())
            except InvalidTag as exc:
                raise ValueError(
                    f"a payload encrypted with key {key_id!r} fails authentication: it was "
                    "altered, or the key's bytes changed under the same id"
                ) from exc
            decoded.append(Payload.FromString(plain))
        return decoded


def codec_from_settings(settings: CodecSettings | None = None) -> AesGcmCodec | None:
    """The codec the settings describe, or ``None`` when no key is configured."""
    settings = settings or CodecSettings()
    if not settings.keys:
        return None
    keys = {
        key_id: parse_key(key_id, value.get_secret_value())
        for key_id, value in settings.keys.items()
    }
    return AesGcmCodec(keys, settings.encrypt_with or list(keys)[-1])
