"""``render_document``: render a letter from a template as HTML and PDF, and store both.

The body comes from ``templates/documents/<lang>/<template>.html.j2`` (referral package,
decision, call for applications, permit, follow-up receipt, evaluation letter,
revocation); the HTML file wraps it in a page, the PDF lays the same body out with fpdf2
(`activities.pdf`). Rendering depends only on the service call: the date printed and the
PDF's creation date are the case's clock (``ServiceCall.now``), so a retry produces the same
bytes, stores nothing new, and returns the same SHA-256s. Both files are stored write-once
in the content-addressed document store and filed under the case.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, Literal

import structlog
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from temporalio import activity

from activities.document_store import DocumentStore, document_store_from_settings
from activities.inputs import parse_inputs
from activities.pdf import PdfMetadata, html_to_pdf
from activities.settings import ActivitySettings
from activities.templating import TemplateRenderer
from service_contract import RENDER_DOCUMENT, ServiceCall

__all__ = [
    "DOCUMENT_TEMPLATES",
    "RenderDocumentActivity",
    "RenderDocumentInput",
    "RenderDocumentResult",
    "StoredDocument",
]

log = structlog.get_logger("niva.activities.render_document")

DOCUMENT_TEMPLATES = (
    "referral_package",
    "decision",
    "call_for_applications",
    "permit",
    "follow_up_receipt",
    "evaluation_letter",
    "revocation",
)
"""The shipped document templates, each in Swedish (sv) and Norwegian (nb)."""

_RESERVED = frozenset({"title", "case", "language", "timezone", "now"})
_FOOTER = {"sv": "{case} · sida {page} av {nb}", "nb": "{case} · side {page} av {nb}"}


class RenderDocumentInput(BaseModel):
    """The inputs of a ``render_document`` task."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="referral_package, decision, call_for_applications, permit, "
        "follow_up_receipt, evaluation_letter, revocation, or another template under "
        "templates/documents/<lang>/.",
    )
    title: str = Field(min_length=1, description="The document's title, printed and in the PDF.")
    language: Literal["sv", "nb"]
    variables: dict[str, JsonValue] = Field(
        default_factory=dict, description="The template's variables."
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="The file name without extension; default: <template>-<business key>.",
    )
    author: str | None = Field(
        default=None, description="The issuing organisation's name, in the PDF's metadata."
    )

    @model_validator(mode="after")
    def _no_reserved_variables(self) -> RenderDocumentInput:
        reserved = sorted(_RESERVED.intersection(self.variables))
        if reserved:
            raise ValueError(
                f"variables {', '.join(reserved)} are set by render_document itself: rename them"
            )
        return self


class StoredDocument(BaseModel):
    """One stored file: its id is its SHA-256, which the workflow records."""

    id: str
    media_type: str
    size: int
    sha256: str
    name: str


class RenderDocumentResult(BaseModel):
    """The stored renderings: the PDF first, then the HTML."""

    documents: list[StoredDocument]


def _file_stem(request: RenderDocumentInput, call: ServiceCall) -> str:
    if request.name:
        return request.name
    key = re.sub(r"[^A-Za-z0-9._-]+", "-", call.business_key).strip("-.")
    return f"{request.template}-{key}" if key else request.template


class RenderDocumentActivity:
    """The ``render_document`` activity with its document store.

    Args:
        store: where documents are kept.
        templates: the template folder's renderer.
    """

    def __init__(self, *, store: DocumentStore, templates: TemplateRenderer | None = None) -> None:
        self.store = store
        self.templates = templates or TemplateRenderer()

    @classmethod
    def from_settings(cls, settings: ActivitySettings) -> RenderDocumentActivity:
        """The activity on the store the settings choose (S3 or filesystem)."""
        return cls(store=document_store_from_settings(settings))

    @activity.defn(name=RENDER_DOCUMENT)
    async def render_document(self, call: ServiceCall) -> RenderDocumentResult:
        """Render, store and file the document of ``call``.

        Raises:
            ApplicationError: non-retryable ``InvalidInput``, ``TemplateNotFound``,
                ``TemplateVariableMissing`` or ``TemplateError``: bugs in the model.
            Exception: storage failures, retried by Temporal.
        """
        request = parse_inputs(call, RenderDocumentInput)
        context: dict[str, Any] = {
            **request.variables,
            "title": request.title,
            "case": {
                "id": call.case_id,
                "business_key": call.business_key,
                "process_id": call.process_id,
                "process_version": call.process_version,
                "task_id": call.task_id,
                "element_id": call.element_id,
            },
            "language": request.language,
            "timezone": call.timezone,
            "now": call.now,
        }
        body = self.templates.render(
            f"documents/{request.language}/{request.template}.html.j2",
            context,
            element_id=call.element_id,
        )
        page = self.templates.render(
            "documents/_page.html.j2", {**context, "body": Markup(body)}, element_id=call.element_id
        )
        activity.heartbeat("html")
        pdf = await asyncio.to_thread(
            html_to_pdf,
            body,
            metadata=PdfMetadata(
                title=request.title,
                language=request.language,
                created=call.now,
                author=request.author,
                subject=call.business_key,
            ),
            footer=_FOOTER[request.language].replace("{case}", call.business_key),
            on_page=_heartbeat_from_thread(),
        )
        activity.heartbeat("pdf")
        stem = _file_stem(request, call)
        documents = []
        for data, media_type, extension in (
            (pdf, "application/pdf", "pdf"),
            (page.encode("utf-8"), "text/html; charset=utf-8", "html"),
        ):
            doc_id = await asyncio.to_thread(self.store.put, data)
            await asyncio.to_thread(self.store.add_to_case, call.case_id, doc_id)
            documents.append(
                StoredDocument(
                    id=doc_id,
                    media_type=media_type,
                    size=len(data),
                    sha256=doc_id,
                    name=f"{stem}.{extension}",
                )
            )
            activity.heartbeat(extension, doc_id)
        log.info(
            "document stored",
            case_id=call.case_id,
            task_id=call.task_id,
            template=request.template,
            documents=[document.id for document in documents],
        )
        return RenderDocumentResult(documents=documents)


def _heartbeat_from_thread() -> Callable[[int], None]:
    """A page callback that heartbeats from the PDF thread.

    An async activity's heartbeat schedules a task on the activity's event loop, so a worker
    thread hands it over with ``call_soon_threadsafe``; the thread's copied context still
    identifies the activity.
    """
    loop = asyncio.get_running_loop()

    def on_page(page: int) -> None:
        loop.call_soon_threadsafe(activity.heartbeat, "pdf page", page)

    return on_page
