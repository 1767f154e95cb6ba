"""Authentication: the dev tokens file of ``niva dev`` and OIDC JWTs checked against a
JWKS served on loopback."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from starter.api.auth import (
    OidcAuthenticator,
    StaticTokens,
    TokenEntry,
    TokensFileAuthenticator,
    authenticator_from_settings,
    dev_principals,
    ensure_dev_tokens,
    read_tokens_file,
    render_dev_tokens,
)
from starter.api.errors import ApiError
from starter.settings import ApiSettings
from tests.support import log_audit
from tests.support.jwks import serve_jwks


def test_ensure_dev_tokens_writes_once_a_principal_per_demo_actor(tmp_path: Path):
    path = ensure_dev_tokens(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = read_tokens_file(path)
    by_subject = {e.subject: e for e in entries.values()}
    assert by_subject["sos-officer"].org == "SE-SOS"
    assert by_subject["sos-officer"].roles == ["officer"]
    assert by_subject["nhv-namnd"].org == "SE-NHV-NAMND"
    assert by_subject["nhv-namnd"].roles == ["board"]
    regions = [e for e in entries.values() if e.roles == ["registrator"]]
    assert len(regions) == 21
    assert {e.org for e in regions} >= {"SE-AB", "SE-O", "SE-BD"}
    assert by_subject["hdir-officer"].org == "NO-HDIR"
    assert by_subject["hod-ministry"].org == "NO-HOD"
    assert {e.org for e in entries.values() if e.roles == ["rhf"]} == {
        "NO-HSO",
        "NO-HV",
        "NO-HMN",
        "NO-HN",
    }
    assert by_subject["auditor"].roles == ["auditor"]
    assert by_subject["modeler"].roles == ["modeler"]
    assert by_subject["operator"].roles == ["operator"]
    assert any(e.org and e.org.startswith("SE-NPO-") for e in entries.values())
    assert any(e.roles == ["expert"] for e in entries.values())
    assert all(len(token) >= 32 for token in entries)
    # Kept across restarts.
    before = path.read_bytes()
    assert ensure_dev_tokens(tmp_path) == path
    assert path.read_bytes() == before
    rendered = render_dev_tokens(path)
    assert rendered.splitlines()[0].split() == ["subject", "org", "roles", "token"]
    token = next(t for t, e in entries.items() if e.subject == "auditor")
    assert any(
        line.startswith("auditor") and line.endswith(token) for line in rendered.splitlines()
    )


def test_dev_principals_follow_the_organisations_file(tmp_path: Path):
    orgs = tmp_path / "orgs.yaml"
    orgs.write_text(
        "- {id: SE-AB, name: Region Stockholm, kind: region, parent: null, jurisdiction: SE, language: sv}\n"
        "- {id: NO-HN, name: Helse Nord, kind: rhf, parent: null, jurisdiction: 'NO', language: nb}\n"
    )
    subjects = [p.subject for p in dev_principals(orgs)]
    assert "registrator-ab" in subjects
    assert "rhf-hn" in subjects
    assert "registrator-c" not in subjects


async def test_tokens_file_errors_name_the_entry(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text("a: {subject: one}\nb: {org: SE-AB}\n")
    with pytest.raises(ValueError, match="entry 2: subject: Field required"):
        read_tokens_file(path)
    missing = TokensFileAuthenticator(tmp_path / "absent.json")
    with pytest.raises(ApiError) as caught:
        await missing.authenticate("x")
    assert caught.value.status_code == 503


async def test_static_tokens_refuse_unknown_and_expired():
    tokens = StaticTokens(
        {
            "good": TokenEntry(subject="s", org="SE-AB", roles=["r"]),
            "old": TokenEntry(subject="o", expires=datetime.now(UTC) - timedelta(seconds=1)),
        }
    )
    principal = await tokens.authenticate("good")
    assert (principal.subject, principal.org, principal.roles) == ("s", "SE-AB", ["r"])
    for token in ("old", "bad"):
        with pytest.raises(ApiError) as caught:
            await tokens.authenticate(token)
        assert caught.value.status_code == 401
        assert caught.value.headers["WWW-Authenticate"] == "Bearer"


# --- OIDC -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A JWKS endpoint on loopback with the key's public half (kid "k1")."""
    with serve_jwks(signing_key) as url:
        yield url


def token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": "user-1",
        "iss": "https://idp.example",
        "aud": "niva",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "org": "SE-AB",
        "realm_access": {"roles": ["registrator", "reader"]},
        **claims,
    }
    token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})
    log_audit.secret(token, what="JWT")
    return token


async def test_oidc_token_maps_claims_to_principal(jwks_url: str, signing_key: rsa.RSAPrivateKey):
    settings = ApiSettings(
        jwks_url=jwks_url,
        issuer="https://idp.example",
        audience="niva",
        roles_claim="realm_access.roles",
    )
    oidc = authenticator_from_settings(settings)
    assert isinstance(oidc, OidcAuthenticator)
    principal = await oidc.authenticate(token(signing_key))
    assert (principal.subject, principal.org, principal.roles) == (
        "user-1",
        "SE-AB",
        ["registrator", "reader"],
    )
    spaced = await OidcAuthenticator(
        jwks_url=jwks_url, issuer="https://idp.example", audience="niva", roles_claim="scope"
    ).authenticate(token(signing_key, scope="officer board"))
    assert spaced.roles == ["officer", "board"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": datetime.now(UTC) - timedelta(minutes=1)}, "expired"),
        ({"iss": "https://other.example"}, "not valid"),
        ({"aud": "someone-else"}, "not valid"),
    ],
)
async def test_oidc_refuses_expired_and_foreign_tokens(
    jwks_url: str, signing_key: rsa.RSAPrivateKey, claims: dict[str, object], reason: str
):
    oidc = OidcAuthenticator(jwks_url=jwks_url, issuer="https://idp.example", audience="niva")
    with pytest.raises(ApiError) as caught:
        await oidc.authenticate(token(signing_key, **claims))
    assert caught.value.status_code == 401
    assert reason in caught.value.body.detail


async def test_oidc_refuses_token_signed_by_another_key(jwks_url: str):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    oidc = OidcAuthenticator(jwks_url=jwks_url, issuer="https://idp.example", audience="niva")
    with pytest.raises(ApiError) as caught:
        await oidc.authenticate(token(stranger))
    assert caught.value.status_code == 401
    with pytest.raises(ApiError) as caught:
        await oidc.authenticate("not-a-jwt")
    assert caught.value.status_code == 401


def test_oidc_needs_issuer_and_audience():
    with pytest.raises(ValueError, match="NIVA_API_ISSUER"):
        authenticator_from_settings(ApiSettings(jwks_url="http://127.0.0.1:1/jwks"))
