"""Message payload models in the registry: the shipped ones, registering, and copies."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from process_models.forms.se_nhv import RevocationInitiation, RevocationRequest
from process_models.registry import Registry, RegistryError, default_registry


def test_the_shipped_revocation_messages_have_payload_models():
    assert default_registry.message("request_revocation") is RevocationRequest
    assert default_registry.message("initiate_revocation") is RevocationInitiation
    assert default_registry.message("withdraw_nomination") is None
    # The model applies circumstances_changed when the ground is left out; the message
    # names one of the two grounds Socialstyrelsen may bring, and nothing else.
    RevocationInitiation.model_validate({})
    RevocationInitiation.model_validate({"ground": "conditions_not_met", "reason": "Tillsyn."})
    for payload in ({"ground": "region_request"}, {"grund": "conditions_not_met"}):
        with pytest.raises(ValidationError):
            RevocationInitiation.model_validate(payload)
    with pytest.raises(ValidationError):
        RevocationRequest.model_validate({"reason": "x", "date": "2030-01-01"})


def test_a_message_has_one_payload_model_and_copies_keep_it():
    class Other(BaseModel):
        note: str

    registry = Registry()
    registry.register_message("note", Other)
    registry.register_message("note", Other)  # the same again is harmless
    with pytest.raises(RegistryError, match="already has the payload model Other"):
        registry.register_message("note", RevocationRequest)
    copy = registry.copy()
    assert copy.message("note") is Other
    assert dict(copy.messages) == {"note": Other}
