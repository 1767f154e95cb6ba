"""Who is calling: bearer tokens turned into principals (subject, organisation, roles).

Two ways to authenticate, chosen by `starter.settings.ApiSettings`:

- **a tokens file** (the embedded default): a JSON or YAML mapping from each token to
  ``{subject, org, roles, expires?}``. The file is read again when it changes, so tokens
  are added or revoked without a restart. `ensure_dev_tokens` writes one with a principal
  per demo actor of the shipped processes.
- **OIDC** (production, ``jwks_url`` set): the token is a JWT signed by a key of the
  identity provider's JWKS, with the configured issuer and audience; the organisation and
  roles come from the claims named by ``org_claim`` and ``roles_claim``.

A missing, unknown, malformed or expired token is a 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jwt
import yaml
from pydantic import BaseModel, Field, ValidationError

from activities.organisations import Organisation, load_organisations
from starter.api.errors import ApiError
from starter.settings import ApiSettings
from workflows.candidates import Actor

__all__ = [
    "AUDITOR_ROLE",
    "DEV_TOKENS_FILE_NAME",
    "Authenticator",
    "NoAuthenticator",
    "OidcAuthenticator",
    "Principal",
    "StaticTokens",
    "TokenEntry",
    "TokensFileAuthenticator",
    "authenticator_from_settings",
    "dev_principals",
    "ensure_dev_tokens",
    "read_tokens_file",
    "render_dev_tokens",
    "unauthorized",
]

AUDITOR_ROLE = "auditor"
"""The role that reads everything and changes nothing."""

DEV_TOKENS_FILE_NAME = "api-tokens.json"
"""The dev tokens file's name in the data directory."""


class Principal(Actor):
    """An authenticated caller: the actor the engine records, plus what the API asks."""

    @property
    def is_auditor(self) -> bool:
        """Auditors read every case and never change one."""
        return AUDITOR_ROLE in self.roles

    def actor(self) -> Actor:
        """The engine's view of the caller (exactly the `Actor` fields)."""
        return Actor(subject=self.subject, org=self.org, roles=list(self.roles))


class TokenEntry(BaseModel):
    """One entry of a tokens file."""

    subject: str = Field(min_length=1)
    org: str | None = None
    roles: list[str] = Field(default_factory=list)
    expires: datetime | None = Field(
        default=None, description="After this instant the token is refused."
    )


class Authenticator(Protocol):
    """Turns a bearer token into a principal, or raises a 401 `ApiError`."""

    async def authenticate(self, token: str) -> Principal:
        """The principal behind ``token``."""
        ...


def unauthorized(detail: str) -> ApiError:
    """A 401 that tells the client to send a bearer token."""
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def _digest(token: str) -> str:
    # Tokens are kept and looked up by their hash: a dump of the process's memory or a
    # timing difference in the lookup does not give them away.
    return hashlib.sha256(token.encode()).hexdigest()


class StaticTokens:
    """A fixed mapping from token to entry (tests, and the tokens file once read)."""

    def __init__(self, tokens: Mapping[str, TokenEntry | Principal]) -> None:
        self._entries: dict[str, TokenEntry] = {}
        for token, entry in tokens.items():
            if isinstance(entry, Principal):
                entry = TokenEntry(subject=entry.subject, org=entry.org, roles=entry.roles)
            self._entries[_digest(token)] = entry

    async def authenticate(self, token: str) -> Principal:
        """The principal of a known, unexpired token."""
        entry = self._entries.get(_digest(token))
        if entry is None:
            raise unauthorized("unknown bearer token: ask an administrator for a valid one")
        if entry.expires is not None and entry.expires <= datetime.now(UTC):
            raise unauthorized(
                f"the token of {entry.subject} expired at {entry.expires.isoformat()}"
            )
        return Principal(subject=entry.subject, org=entry.org, roles=list(entry.roles))


def read_tokens_file(path: Path) -> dict[str, TokenEntry]:
    """Read a tokens file (JSON or YAML: ``{token: {subject, org, roles, expires?}}``).

    Raises:
        ValueError: the file cannot be read or an entry is wrong; the message names the
            file and the entry's subject or position.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except OSError as exc:
        raise ValueError(f"tokens file {path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"tokens file {path} is neither JSON nor YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(
            f"tokens file {path} must map each token to {{subject, org, roles}}, "
            f"not be a {type(data).__name__}"
        )
    entries: dict[str, TokenEntry] = {}
    for index, (token, raw) in enumerate(data.items(), start=1):
        try:
            entries[str(token)] = TokenEntry.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ValueError(f"tokens file {path}, entry {index}: {problems}") from exc
    return entries


class TokensFileAuthenticator:
    """Tokens from a file, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._tokens = StaticTokens({})

    def _current(self) -> StaticTokens:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise ApiError(
                503,
                "unavailable",
                f"the API's tokens file {self.path} cannot be read ({exc.strerror}); "
                "set NIVA_API_TOKENS_FILE to an existing file",
            ) from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._tokens = StaticTokens(read_tokens_file(self.path))
            except ValueError as exc:
                raise ApiError(503, "unavailable", str(exc)) from exc
            self._stamp = stamp
        return self._tokens

    async def authenticate(self, token: str) -> Principal:
        """The principal of a token listed in the file."""
        return await self._current().authenticate(token)


class NoAuthenticator:
    """Refuses everyone: neither a tokens file nor OIDC is configured."""

    async def authenticate(self, token: str) -> Principal:
        """Always a 401 that says what to configure."""
        raise unauthorized(
            "the API has no way to check tokens: set NIVA_API_TOKENS_FILE (a tokens file) "
            "or NIVA_API_JWKS_URL with NIVA_API_ISSUER and NIVA_API_AUDIENCE (OIDC)"
        )


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class OidcAuthenticator:
    """JWTs of an OIDC identity provider, checked against its JWKS.

    Args:
        jwks_url: where the provider publishes its signing keys.
        issuer: the required ``iss``.
        audience: the required ``aud``.
        org_claim: the claim (dotted path) with the organisation id.
        roles_claim: the claim (dotted path) with the roles: a list or a space-separated
            string.
    """

    ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        org_claim: str = "org",
        roles_claim: str = "roles",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.org_claim = org_claim
        self.roles_claim = roles_claim
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=10)

    def _decode(self, token: str) -> dict[str, Any]:
        key = self._jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=list(self.ALGORITHMS),
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return claims

    async def authenticate(self, token: str) -> Principal:
        """The principal named by a valid JWT's claims."""
        try:
            # PyJWKClient fetches the key set over HTTP (cached): keep it off the loop.
            claims = await asyncio.to_thread(self._decode, token)
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("the token has expired: get a new one") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise ApiError(
                503, "unavailable", f"the identity provider's keys cannot be fetched: {exc}"
            ) from exc
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise unauthorized(f"the token is not valid: {exc}") from exc
        roles = _claim(claims, self.roles_claim)
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list):
            roles = []
        org = _claim(claims, self.org_claim)
        return Principal(
            subject=str(claims["sub"]),
            org=str(org) if org is not None else None,
            roles=[str(role) for role in roles],
        )


def authenticator_from_settings(settings: ApiSettings) -> Authenticator:
    """OIDC when ``jwks_url`` is set, else the tokens file, else one that refuses all.

    Raises:
        ValueError: ``jwks_url`` is set without ``issuer`` and ``audience``.
    """
    if settings.jwks_url:
        if not settings.issuer or not settings.audience:
            raise ValueError(
                "NIVA_API_JWKS_URL is set but NIVA_API_ISSUER or NIVA_API_AUDIENCE is not: "
                "a token is only checked against a known issuer and audience"
            )
        return OidcAuthenticator(
            jwks_url=settings.jwks_url,
            issuer=settings.issuer,
            audience=settings.audience,
            org_claim=settings.org_claim,
            roles_claim=settings.roles_claim,
        )
    if settings.tokens_file is not None:
        return TokensFileAuthenticator(settings.tokens_file)
    return NoAuthenticator()


# --- the demo principals of `niva dev` --------------------------------------------------------


def _first(orgs: list[Organisation], kind: str) -> list[Organisation]:
    return [org for org in orgs if org.kind == kind][:1]


def dev_principals(organisations_file: Path | None = None) -> list[TokenEntry]:
    """A principal per demo actor, built from the organisations file.

    The Socialstyrelsen case officer, the nämnd, a registrator in each Swedish region, an
    NPO, an expert (preparation) group, Helsedirektoratet, the ministry (HOD), each
    regional health authority (RHF), an auditor, a modeler and an operator.
    """
    directory = (
        load_organisations(organisations_file) if organisations_file else load_organisations()
    )
    orgs = directory.organisations
    by_id = {org.id: org for org in orgs}
    entries = [
        TokenEntry(subject="sos-officer", org="SE-SOS", roles=["officer"]),
        TokenEntry(subject="nhv-namnd", org="SE-NHV-NAMND", roles=["board"]),
    ]
    entries += [
        TokenEntry(
            subject=f"registrator-{org.id.removeprefix('SE-').lower()}",
            org=org.id,
            roles=["registrator"],
        )
        for org in orgs
        if org.kind == "region" and org.jurisdiction == "SE"
    ]
    entries += [
        TokenEntry(
            subject=f"npo-{org.id.removeprefix('SE-NPO-').lower()}", org=org.id, roles=["npo"]
        )
        for org in _first(orgs, "npo")
    ]
    entries += [
        TokenEntry(
            subject=f"expert-{org.id.removeprefix('SE-NHV-').lower()}", org=org.id, roles=["expert"]
        )
        for org in _first(orgs, "preparation_group")
    ]
    if "NO-HDIR" in by_id:
        entries.append(TokenEntry(subject="hdir-officer", org="NO-HDIR", roles=["officer"]))
    if "NO-HOD" in by_id:
        entries.append(TokenEntry(subject="hod-ministry", org="NO-HOD", roles=["ministry"]))
    entries += [
        TokenEntry(subject=f"rhf-{org.id.removeprefix('NO-').lower()}", org=org.id, roles=["rhf"])
        for org in orgs
        if org.kind == "rhf"
    ]
    entries += [
        TokenEntry(subject="auditor", org=None, roles=[AUDITOR_ROLE]),
        TokenEntry(subject="modeler", org="SE-SOS", roles=["modeler"]),
        TokenEntry(subject="operator", org="SE-SOS", roles=["operator"]),
    ]
    return entries


def ensure_dev_tokens(data_dir: Path, *, organisations_file: Path | None = None) -> Path:
    """The data directory's dev tokens file, written with fresh tokens when missing.

    An existing file is kept as it is, so tokens handed out earlier keep working across
    restarts. The file is readable by its owner only.

    Args:
        data_dir: the data directory (``NIVA_DATA_DIR``).
        organisations_file: the organisations to build principals from; default: shipped.
    """
    path = data_dir / DEV_TOKENS_FILE_NAME
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    tokens = {
        secrets.token_urlsafe(24): entry.model_dump(mode="json", exclude_none=True)
        for entry in dev_principals(organisations_file)
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(tokens, file, indent=2, ensure_ascii=False)
        file.write("\n")
    try:
        # A hard link fails if another process wrote the file meanwhile: keep theirs.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path


def render_dev_tokens(path: Path) -> str:
    """The tokens of a tokens file as an aligned table for the console."""
    entries = read_tokens_file(path)
    rows = [
        (entry.subject, entry.org or "-", ",".join(entry.roles) or "-", token)
        for token, entry in entries.items()
    ]
    headers = ("subject", "org", "roles", "token")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in [headers, *rows]
    ]
    return "\n".join(lines)
