"""render_document: real templates in Swedish and Norwegian, deterministic PDFs that pypdf
reads, autoescaped HTML, write-once storage filed under the case, heartbeats per page."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.document_store import FilesystemDocumentStore
from activities.documents import (
    DOCUMENT_TEMPLATES,
    RenderDocumentActivity,
    RenderDocumentResult,
)
from service_contract import ServiceCall
from tests.support.activities import CASE_CLOCK

CONDITIONS = ["Minst 20 patienter per år", "Tillgång till intensivvård dygnet runt"]
VARIABLES: dict[str, dict[str, Any]] = {
    "referral_package": {
        "care_area": "Svår leversvikt",
        "definition": "Utredning och behandling av akut och kronisk svår leversvikt.",
        "units": 2,
        "conditions": CONDITIONS,
        "impact": "Ungefär 60 patienter per år berörs.",
        "deadline": "2025-05-12",
    },
    "decision": {
        "decision": "Svår leversvikt ska vara nationell högspecialiserad vård vid två enheter.",
        "grounds": "Vården är sällan förekommande och kräver särskild kompetens.",
        "decided_by": "Socialstyrelsen",
        "decision_date": "2025-06-18",
    },
    "call_for_applications": {
        "care_area": "Svår leversvikt",
        "units": 2,
        "conditions": CONDITIONS,
        "application_deadline": "2025-09-15",
    },
    "permit": {
        "holder": "Region Skåne",
        "care_area": "Svår leversvikt",
        "start_date": "2026-01-01",
        "decision_date": "2025-12-18",
        "conditions": CONDITIONS,
    },
    "follow_up_receipt": {
        "holder": "Region Skåne",
        "care_area": "Svår leversvikt",
        "year": 2026,
        "received_at": "2027-03-20T10:15:00+01:00",
    },
    "evaluation_letter": {
        "holder": "Region Skåne",
        "care_area": "Svår leversvikt",
        "year": 2026,
        "outcome": "Villkoren är uppfyllda.",
        "comments": "Komplikationerna bör redovisas per kvartal.",
    },
    "revocation": {
        "holder": "Region Skåne",
        "care_area": "Svår leversvikt",
        "ground": "Villkoren uppfylls inte längre.",
        "effective_date": "2028-07-01",
    },
}


@pytest.fixture
def renderer(tmp_path: Path) -> RenderDocumentActivity:
    return RenderDocumentActivity(store=FilesystemDocumentStore(tmp_path / "documents"))


def _inputs(template: str, language: str = "sv", **extra: Any) -> dict[str, Any]:
    return {
        "template": template,
        "title": f"Dokument {template} – Svår leversvikt",
        "language": language,
        "variables": VARIABLES[template],
        **extra,
    }


def _pdf_text(data: bytes) -> str:
    """The PDF's text with line breaks and runs of spaces as single spaces."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def _render(
    renderer: RenderDocumentActivity, call: ServiceCall, env: ActivityEnvironment | None = None
) -> RenderDocumentResult:
    return await (env or ActivityEnvironment()).run(renderer.render_document, call)


@pytest.mark.parametrize("language", ["sv", "nb"])
@pytest.mark.parametrize("template", DOCUMENT_TEMPLATES)
async def test_render_document_every_template_opens_with_title(
    renderer: RenderDocumentActivity,
    make_call: Callable[..., ServiceCall],
    template: str,
    language: str,
):
    call = make_call("render_document", inputs=_inputs(template, language))
    result = await _render(renderer, call)

    pdf_doc, html_doc = result.documents
    assert (pdf_doc.media_type, html_doc.media_type) == (
        "application/pdf",
        "text/html; charset=utf-8",
    )
    assert pdf_doc.name == f"{template}-2025-leversvikt.pdf"
    pdf = renderer.store.get(pdf_doc.id)
    assert pdf_doc.size == len(pdf)
    assert pdf_doc.sha256 == pdf_doc.id == hashlib.sha256(pdf).hexdigest()
    reader = PdfReader(io.BytesIO(pdf))
    text = _pdf_text(pdf)
    assert f"Dokument {template} – Svår leversvikt" in text
    assert "2025-leversvikt" in text  # the case reference, in the header and the footer
    assert reader.metadata is not None
    assert reader.metadata.title == f"Dokument {template} – Svår leversvikt"
    html = renderer.store.get(html_doc.id).decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in html
    # The case's clock, in the letter's language.
    assert {"sv": "3 mars 2025", "nb": "3. mars 2025"}[language] in html


async def test_render_document_same_input_same_bytes(
    tmp_path: Path, make_call: Callable[..., ServiceCall]
):
    call = make_call("render_document", inputs=_inputs("permit"))
    first_store = RenderDocumentActivity(store=FilesystemDocumentStore(tmp_path / "a"))
    second_store = RenderDocumentActivity(store=FilesystemDocumentStore(tmp_path / "b"))

    first = await _render(first_store, call)
    again = await _render(first_store, call)  # a retry
    elsewhere = await _render(second_store, call)  # another worker, another disk

    assert first == again == elsewhere
    for document in first.documents:
        assert first_store.store.get(document.id) == second_store.store.get(document.id)
    stored = [p for p in (tmp_path / "a" / "objects").rglob("*") if p.is_file()]
    assert len(stored) == 2  # the retry stored nothing new
    assert first_store.store.list_case(call.case_id) == sorted(d.id for d in first.documents)


async def test_render_document_pdf_metadata_is_pinned(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    inputs = _inputs("decision", author="Socialstyrelsen")
    result = await _render(renderer, make_call("render_document", inputs=inputs))
    reader = PdfReader(io.BytesIO(renderer.store.get(result.documents[0].id)))
    metadata = reader.metadata
    assert metadata is not None
    assert metadata.creation_date == CASE_CLOCK
    assert metadata.producer == "niva"
    assert metadata.creator == "niva render_document"
    assert metadata.author == "Socialstyrelsen"


async def test_render_document_other_clock_other_bytes(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    # The test above would pass if dates were ignored altogether; they are not.
    first = await _render(renderer, make_call("render_document", inputs=_inputs("decision")))
    later = CASE_CLOCK.replace(day=4)
    second = await _render(
        renderer, make_call("render_document", inputs=_inputs("decision"), now=later)
    )
    assert first.documents[0].id != second.documents[0].id
    assert "4 mars 2025" in _pdf_text(renderer.store.get(second.documents[0].id))


async def test_render_document_html_is_autoescaped(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    variables = {**VARIABLES["decision"], "grounds": "<script>alert('x')</script> & <b>mer</b>"}
    inputs = {**_inputs("decision"), "title": "Beslut <i>NHV</i>", "variables": variables}
    result = await _render(renderer, make_call("render_document", inputs=inputs))
    html = renderer.store.get(result.documents[1].id).decode("utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;mer&lt;/b&gt;" in html
    assert "<title>Beslut &lt;i&gt;NHV&lt;/i&gt;</title>" in html
    assert "<script>" not in html
    text = _pdf_text(renderer.store.get(result.documents[0].id))
    assert "<script>alert('x')</script> & <b>mer</b>" in text  # shown as text, not markup
    assert "Beslut <i>NHV</i>" in text


async def test_render_document_heartbeats_each_page(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    long_impact = " ".join(["Konsekvenserna för akutsjukvården är betydande."] * 400)
    variables = {**VARIABLES["referral_package"], "impact": long_impact}
    inputs = {**_inputs("referral_package"), "variables": variables}
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    result = await _render(renderer, make_call("render_document", inputs=inputs), env)

    pages = len(PdfReader(io.BytesIO(renderer.store.get(result.documents[0].id))).pages)
    assert pages >= 3
    page_beats = [beat[1] for beat in beats if beat[0] == "pdf page"]
    assert page_beats == list(range(1, pages + 1))
    assert [beat[0] for beat in beats if beat[0] != "pdf page"] == ["html", "pdf", "pdf", "html"]


async def test_render_document_missing_variable_is_non_retryable(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    variables = {k: v for k, v in VARIABLES["permit"].items() if k != "start_date"}
    inputs = {**_inputs("permit", "nb"), "variables": variables}
    with pytest.raises(ApplicationError) as caught:
        await _render(renderer, make_call("render_document", inputs=inputs))
    error = caught.value
    assert error.type == "TemplateVariableMissing"
    assert error.non_retryable
    assert "'start_date'" in error.message
    assert "documents/nb/permit.html.j2" in error.message
    assert not (tmp_path / "documents").exists()  # nothing stored


async def test_render_document_unknown_template_is_non_retryable(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    inputs = {**_inputs("permit"), "template": "annual_report"}
    with pytest.raises(ApplicationError) as caught:
        await _render(renderer, make_call("render_document", inputs=inputs))
    assert caught.value.type == "TemplateNotFound"
    assert caught.value.non_retryable
    assert "documents/sv/annual_report.html.j2" in caught.value.message


async def test_render_document_bad_date_is_non_retryable(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    variables = {**VARIABLES["revocation"], "effective_date": "next summer"}
    inputs = {**_inputs("revocation"), "variables": variables}
    with pytest.raises(ApplicationError) as caught:
        await _render(renderer, make_call("render_document", inputs=inputs))
    assert caught.value.type == "TemplateError"
    assert caught.value.non_retryable
    assert "next summer" in caught.value.message


async def test_render_document_text_outside_the_pdf_font_is_reduced(
    renderer: RenderDocumentActivity, make_call: Callable[..., ServiceCall]
):
    variables = {**VARIABLES["permit"], "holder": "Sámediggi Čohkkejeaddji ≥ 2"}
    inputs = {**_inputs("permit"), "variables": variables}
    result = await _render(renderer, make_call("render_document", inputs=inputs))
    assert "Sámediggi Cohkkejeaddji ? 2" in _pdf_text(renderer.store.get(result.documents[0].id))
    html = renderer.store.get(result.documents[1].id).decode("utf-8")
    assert "Sámediggi Čohkkejeaddji ≥ 2" in html
