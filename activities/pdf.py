"""PDF rendering of niva's documents with fpdf2.

Why fpdf2: it is pure Python (no Cairo, Pango or browser to install, nothing fetched at run
time), well maintained, and deterministic once the creation date and the producer and
creator metadata are pinned: its file identifier is a hash of the content, not a random
value, and nothing else in the file depends on the clock. Pinning the date to the case's
clock is what lets a retried ``render_document`` store the very same bytes, so the SHA-256
the workflow recorded stays true.

The document body is the same HTML the HTML rendering uses, laid out by fpdf2's
``write_html`` (headings, paragraphs, lists, simple tables, bold and italics). Text is set in
the PDF core font Helvetica, which covers Windows-1252: all of Swedish and Norwegian,
typographic quotes and dashes, €. Any other character is reduced to its base letter
(``č`` → ``c``) or ``?`` in the PDF only; the HTML keeps it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from fpdf import FPDF, FontFace

__all__ = ["CREATOR", "PRODUCER", "PdfMetadata", "html_to_pdf"]

PRODUCER = "niva"
CREATOR = "niva render_document"
_ENCODING = "cp1252"
_INK = (17, 17, 17)
# Official letters: black headings, not fpdf2's default dark red.
_STYLES = {
    "h1": FontFace(color=_INK, size_pt=18, emphasis="BOLD"),
    "h2": FontFace(color=_INK, size_pt=13, emphasis="BOLD"),
}


@dataclass(frozen=True, kw_only=True)
class PdfMetadata:
    """The document information a PDF carries; all of it fixed by the caller."""

    title: str
    language: str
    created: datetime
    author: str | None = None
    subject: str | None = None


@lru_cache(maxsize=4096)
def _pdf_char(char: str) -> str:
    try:
        char.encode(_ENCODING)
    except UnicodeEncodeError:
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        try:
            base.encode(_ENCODING)
        except UnicodeEncodeError:
            return "?"
        return base or "?"
    return char


def _pdf_text(text: str) -> str:
    """``text`` reduced to what the core fonts can show."""
    return "".join(_pdf_char(char) for char in text)


class _Document(FPDF):
    """A4 pages with a footer line; reports each finished page."""

    def __init__(self, footer: str, on_page: Callable[[int], None] | None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer = footer
        self._on_page = on_page
        self.core_fonts_encoding = _ENCODING

    def footer(self) -> None:
        # fpdf2 calls footer() as each page is finished: the natural point to tell the
        # caller (a heartbeat) that rendering is still making progress.
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.set_text_color(90, 90, 90)
        label = _pdf_text(self._footer.replace("{page}", str(self.page_no())))
        self.cell(0, 10, label, align="C")
        if self._on_page is not None:
            self._on_page(self.page_no())


def html_to_pdf(
    body_html: str,
    *,
    metadata: PdfMetadata,
    footer: str = "{page} / {nb}",
    on_page: Callable[[int], None] | None = None,
) -> bytes:
    """Lay out ``body_html`` as an A4 PDF whose bytes depend only on the arguments.

    Args:
        body_html: the document's body (no ``<html>``/``<head>``).
        metadata: title, language, creation date and author of the PDF.
        footer: each page's footer; ``{page}`` is the page number, ``{nb}`` the page count.
        on_page: called with each page number as the page is finished.
    """
    pdf = _Document(footer, on_page)
    created = metadata.created if metadata.created.tzinfo else metadata.created.replace(tzinfo=UTC)
    pdf.set_creation_date(created)
    pdf.set_producer(PRODUCER)
    pdf.set_creator(CREATOR)
    pdf.set_title(metadata.title)
    pdf.set_lang(metadata.language)
    if metadata.author:
        pdf.set_author(metadata.author)
    if metadata.subject:
        pdf.set_subject(metadata.subject)
    pdf.set_margins(left=20, top=20, right=20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    # U+2022 is in Windows-1252; fpdf2's default bullet is not.
    pdf.write_html(
        _pdf_text(body_html), ul_bullet_char="\u2022", li_prefix_color=_INK, tag_styles=_STYLES
    )
    return bytes(pdf.output())
